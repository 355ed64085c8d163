"""``create-release``: build job and package archives and the release tarball.

Dev releases are versioned ``0+dev.N`` and recorded in ``dev_releases/<name>/index.yml``
keyed by version, each with a *content key* (a digest of the release name and every
job's and package's name and fingerprint). Creating a release whose content matches a
recorded build reuses that version (and its recorded commit hash, so the tarball is
byte-identical); anything else gets ``N+1``. Built job and package archives are cached in
``.dev_builds/{jobs,packages}/<name>/<fingerprint>.tgz`` (git-ignored) so re-creating a
release with a big blob costs only hashing.

Final releases (``final=True``, BOSH's ``create-release --final``) are versioned 1, 2, … and
recorded in ``releases/<name>/index.yml`` with ``releases/<name>/<name>-<v>.yml``; their job
and package archives become final builds (``final_builds.py``). A vendored package
(``packages/<pkg>/spec.lock``, see ``vendor.py``) always comes from the final builds, in
dev and final releases alike.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from .digest import sha256_file
from .errors import ReleaseError
from .final_builds import INDEX_FORMAT_VERSION, Kind, final_build_archive, read_index, store_final_build
from .layout import JobSource, PackageSource, ReleaseSource, read_release_dir
from .models import JobRef, PackageRef, ReleaseManifest
from .tgz import TarEntry, write_tgz_file

_DEV_VERSION = re.compile(r"^0\+dev\.(\d+)$")
_FINAL_VERSION = re.compile(r"^(\d+)(\.\d+)*$")
_SAFE_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


@dataclass(frozen=True)
class CreatedRelease:
    """What ``create_release`` built. ``sha256`` is ``sha256:<hex>`` of the tarball."""

    name: str
    version: str
    tarball: Path
    sha256: str
    manifest: ReleaseManifest
    reused_version: bool


def _build_cached(cache_dir: Path, name: str, fp: str, entries: list[TarEntry], force: bool) -> Path:
    path = cache_dir / name / f"{fp}.tgz"
    if force or not path.is_file():
        write_tgz_file(entries, path)
    return path


def build_archive(release_dir: Path, kind: Kind, source: JobSource | PackageSource, force: bool = False) -> Path:
    """The archive of a job or package built from the release directory (cached by fingerprint)."""
    entries = [TarEntry(f.archive_path, f.mode, source=f.source) for f in source.files]
    return _build_cached(release_dir / ".dev_builds" / kind, source.name, source.fingerprint, entries, force)


def _vendored_archive(release_dir: Path, release_name: str, pkg: PackageSource) -> Path:
    found = final_build_archive(release_dir, "packages", pkg.name, pkg.fingerprint)
    if found is None:
        raise ReleaseError(
            f"release '{release_name}': package '{pkg.name}' is vendored ({pkg.directory / 'spec.lock'}, "
            f"fingerprint {pkg.fingerprint[:12]}) but {release_dir / '.final_builds/packages' / pkg.name / 'index.yml'} "
            f"and the final blobstore hold no build with that fingerprint; run `bosh-py vendor-package {pkg.name} "
            f"SOURCE_RELEASE_DIR --dir {release_dir}` with the release the package comes from")
    return found[1]


def _archive(release_dir: Path, release_name: str, kind: Kind, source: JobSource | PackageSource,
             final: bool, force: bool) -> Path:
    """Where a job's or package's archive comes from: final builds (vendored, or ``final``)
    or the dev build cache."""
    if isinstance(source, PackageSource) and source.vendored:
        return _vendored_archive(release_dir, release_name, source)
    if not final:
        return build_archive(release_dir, kind, source, force)
    found = final_build_archive(release_dir, kind, source.name, source.fingerprint)
    if found is None:
        found = store_final_build(release_dir, kind, source.name, source.fingerprint,
                                  build_archive(release_dir, kind, source, force))
    return found[1]


def _content_key(src: ReleaseSource, job_fps: dict[str, str], pkg_fps: dict[str, str]) -> str:
    h = hashlib.sha256(f"release\0{src.name}\n".encode())
    for n in sorted(pkg_fps):
        h.update(f"package\0{n}\0{pkg_fps[n]}\n".encode())
    for n in sorted(job_fps):
        h.update(f"job\0{n}\0{job_fps[n]}\n".encode())
    return h.hexdigest()


def _git_info(release_dir: Path) -> tuple[str | None, bool | None]:
    """(short commit hash, uncommitted changes?) or (None, None) outside git."""
    try:
        head = subprocess.run(["git", "-C", str(release_dir), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(release_dir), "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _next_dev_version(builds: dict) -> str:
    numbers = [int(m.group(1)) for v in builds if (m := _DEV_VERSION.match(str(v)))]
    return f"0+dev.{max(numbers, default=0) + 1}"


def create_release(release_dir: str | Path, tarball: str | Path | None = None,
                   version: str | None = None, force: bool = False, final: bool = False) -> CreatedRelease:
    """Build the release in ``release_dir`` into a tarball.

    ``version`` None means a dev version (reused when the content is unchanged; uncommitted
    git changes are allowed and recorded). An explicit ``version`` (a final-style release) is
    refused when the git tree has uncommitted changes or when that version is already
    recorded with different content, unless ``force``, which also rebuilds cached archives. The tarball goes to ``tarball`` or
    ``dev_releases/<name>/<name>-<version>.tgz``. ``final`` makes a final release instead
    (``create_final_release``).
    """
    release_dir = Path(release_dir)
    if final:
        return create_final_release(release_dir, tarball=tarball, version=version, force=force)
    src = read_release_dir(release_dir)

    pkg_refs: list[PackageRef] = []
    pkg_paths: dict[str, Path] = {}
    pkg_fps: dict[str, str] = {}
    for name in sorted(src.packages):
        pkg = src.packages[name]
        fp = pkg.fingerprint
        path = _archive(release_dir, src.name, "packages", pkg, final=False, force=force)
        pkg_fps[name], pkg_paths[name] = fp, path
        pkg_refs.append(PackageRef(name=name, version=fp, fingerprint=fp, sha1=sha256_file(path),
                                   dependencies=sorted(pkg.spec.dependencies)))

    job_refs: list[JobRef] = []
    job_paths: dict[str, Path] = {}
    job_fps: dict[str, str] = {}
    for name in sorted(src.jobs):
        job = src.jobs[name]
        fp = job.fingerprint
        path = _archive(release_dir, src.name, "jobs", job, final=False, force=force)
        job_fps[name], job_paths[name] = fp, path
        job_refs.append(JobRef(name=name, version=fp, fingerprint=fp, sha1=sha256_file(path),
                               packages=list(job.spec.packages)))

    content_key = _content_key(src, job_fps, pkg_fps)
    dev_dir = release_dir / "dev_releases" / src.name
    index_path = dev_dir / "index.yml"
    index = read_index(index_path, "version")
    builds: dict = index["builds"]

    commit_hash, uncommitted = _git_info(release_dir)
    reused = False
    if version is None:
        for v, build in builds.items():
            if isinstance(build, dict) and build.get("content_key") == content_key:
                version, reused = str(v), True
                commit_hash = build.get("commit_hash", commit_hash)
                uncommitted = build.get("uncommitted_changes", uncommitted)
                break
        else:
            version = _next_dev_version(builds)
    else:
        if uncommitted and not force:
            raise ReleaseError(
                f"{release_dir}: has uncommitted changes; commit them before creating release version "
                f"'{version}', or use force"
            )
        existing = builds.get(version)
        if isinstance(existing, dict):
            if existing.get("content_key") != content_key and not force:
                raise ReleaseError(
                    f"{index_path}: builds/{version}: release version '{version}' already exists with different "
                    f"content; choose another version or use force"
                )
            if existing.get("content_key") == content_key:
                reused = True
                commit_hash = existing.get("commit_hash", commit_hash)
                uncommitted = existing.get("uncommitted_changes", uncommitted)

    manifest = ReleaseManifest(name=src.name, version=version, commit_hash=commit_hash,
                               uncommitted_changes=uncommitted, jobs=job_refs, packages=pkg_refs)
    manifest_text = yaml.safe_dump(manifest.to_yaml_dict(), sort_keys=False)

    out = Path(tarball) if tarball is not None else dev_dir / f"{src.name}-{version}.tgz"
    entries = [TarEntry("release.MF", 0o644, data=manifest_text.encode())]
    entries += [TarEntry(f"jobs/{n}.tgz", 0o644, source=p) for n, p in job_paths.items()]
    entries += [TarEntry(f"packages/{n}.tgz", 0o644, source=p) for n, p in pkg_paths.items()]
    write_tgz_file(entries, out)

    build = {"content_key": content_key}
    if commit_hash is not None:
        build["commit_hash"] = commit_hash
        build["uncommitted_changes"] = bool(uncommitted)
    builds[version] = build
    index["format-version"] = INDEX_FORMAT_VERSION
    _write_atomic(index_path, yaml.safe_dump(index, sort_keys=True))
    _write_atomic(dev_dir / f"{src.name}-{version}.yml", manifest_text)

    return CreatedRelease(name=src.name, version=version, tarball=out, sha256=sha256_file(out),
                          manifest=manifest, reused_version=reused)


def _release_parts(release_dir: Path, src: ReleaseSource, final: bool, force: bool
                   ) -> tuple[list[JobRef], list[PackageRef], list[TarEntry]]:
    """release.MF entries and tarball members of every job and package."""
    pkg_refs, job_refs, members = [], [], []
    for name in sorted(src.packages):
        pkg = src.packages[name]
        path = _archive(release_dir, src.name, "packages", pkg, final, force)
        pkg_refs.append(PackageRef(name=name, version=pkg.fingerprint, fingerprint=pkg.fingerprint,
                                   sha1=sha256_file(path), dependencies=sorted(pkg.spec.dependencies)))
        members.append(TarEntry(f"packages/{name}.tgz", 0o644, source=path))
    for name in sorted(src.jobs):
        job = src.jobs[name]
        path = _archive(release_dir, src.name, "jobs", job, final, force)
        job_refs.append(JobRef(name=name, version=job.fingerprint, fingerprint=job.fingerprint,
                               sha1=sha256_file(path), packages=list(job.spec.packages)))
        members.append(TarEntry(f"jobs/{name}.tgz", 0o644, source=path))
    return job_refs, pkg_refs, members


def _next_final_version(builds: dict) -> str:
    majors = [int(m.group(1)) for b in builds.values()
              if isinstance(b, dict) and (m := _FINAL_VERSION.match(str(b.get("version", ""))))]
    return str(max(majors, default=0) + 1)


def create_final_release(release_dir: str | Path, tarball: str | Path | None = None,
                         version: str | None = None, force: bool = False) -> CreatedRelease:
    """BOSH's ``create-release --final``: the next integer version (or ``version``).

    Refused when the release directory has uncommitted git changes (unless ``force``) and
    when the version already exists. Job and package archives become final builds in the
    final blobstore; ``releases/<name>/<name>-<version>.yml`` and ``releases/<name>/index.yml``
    record the release, and the tarball goes to ``tarball`` or ``releases/<name>/<name>-<version>.tgz``.
    """
    release_dir = Path(release_dir)
    src = read_release_dir(release_dir)
    final_dir = release_dir / "releases" / src.name
    index_path = final_dir / "index.yml"
    index = read_index(index_path, "version")
    builds: dict = index["builds"]
    existing = {str(b.get("version")) for b in builds.values() if isinstance(b, dict)}
    if version is None:
        version = _next_final_version(builds)
    elif not _SAFE_VERSION.match(version):
        raise ReleaseError(f"--version: '{version}' is not a release version (letters, digits, '.', '+', '_', '-')")
    if version in existing:
        raise ReleaseError(f"{index_path}: release '{src.name}' version '{version}' already exists "
                           f"({final_dir / f'{src.name}-{version}.yml'}); choose another --version")
    commit_hash, uncommitted = _git_info(release_dir)
    if uncommitted and not force:
        raise ReleaseError(f"{release_dir}: has uncommitted changes (git status); commit them before creating "
                           f"final release '{src.name}/{version}', or use --force")

    job_refs, pkg_refs, members = _release_parts(release_dir, src, final=True, force=False)
    manifest = ReleaseManifest(name=src.name, version=version, commit_hash=commit_hash,
                               uncommitted_changes=uncommitted, jobs=job_refs, packages=pkg_refs)
    manifest_text = yaml.safe_dump(manifest.to_yaml_dict(), sort_keys=False)
    out = Path(tarball) if tarball is not None else final_dir / f"{src.name}-{version}.tgz"
    write_tgz_file([TarEntry("release.MF", 0o644, data=manifest_text.encode())] + members, out)

    _write_atomic(final_dir / f"{src.name}-{version}.yml", manifest_text)
    builds[uuid.uuid4().hex] = {"version": version}
    index["format-version"] = INDEX_FORMAT_VERSION
    _write_atomic(index_path, yaml.safe_dump(index, sort_keys=True))
    return CreatedRelease(name=src.name, version=version, tarball=out, sha256=sha256_file(out),
                          manifest=manifest, reused_version=False)
