"""Opening release tarballs (upload) and job archives (rendering), trusting nothing.

``open_release_tarball`` extracts into ``dest_dir`` and then checks every job, package and
compiled package archive against the digest ``release.MF`` gives for it. Any failure
(corrupt or truncated gzip, unsafe member, missing archive, digest mismatch) raises a
ReleaseError naming the member and, for digests, both values, and removes everything it
wrote, so the director never stores half a release.

Extracted layout: ``dest_dir/release.MF``, ``dest_dir/jobs/<name>.tgz``,
``dest_dir/packages/<name>.tgz``, ``dest_dir/compiled_packages/<name>.tgz``.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from .digest import file_digest_as
from .errors import ReleaseError
from .models import JobSpec, ReleaseManifest, format_validation_error
from .safe_tar import UnsafeArchive, check_members, is_safe_name, normalize_member_name, safe_extract

_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


def _parse_manifest(path: Path, label: str) -> ReleaseManifest:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ReleaseError(f"{label}: release.MF is missing") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ReleaseError(f"{label}: release.MF: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{label}: release.MF: expected a YAML mapping")
    try:
        manifest = ReleaseManifest.model_validate(data)
    except ValidationError as e:
        raise ReleaseError("\n".join(f"{label}: release.MF: {l}" for l in format_validation_error(e))) from None
    if not is_safe_name(manifest.name):
        raise ReleaseError(f"{label}: release.MF: name: '{manifest.name}' is not a valid release name")
    return manifest


def _verify_archives(dest: Path, manifest: ReleaseManifest, label: str) -> None:
    groups = [("jobs", manifest.jobs), ("packages", manifest.packages),
              ("compiled_packages", manifest.compiled_packages)]
    for kind, refs in groups:
        seen = set()
        for i, ref in enumerate(refs):
            if not is_safe_name(ref.name):
                raise ReleaseError(f"{label}: release.MF: {kind}/{i}/name: '{ref.name}' is not a valid name")
            if ref.name in seen:
                raise ReleaseError(f"{label}: release.MF: {kind}/{i}/name: '{ref.name}' is listed twice")
            seen.add(ref.name)
            member = f"{kind}/{ref.name}.tgz"
            path = dest / kind / f"{ref.name}.tgz"
            if not path.is_file():
                raise ReleaseError(f"{label}: {member} is missing (release.MF lists {kind} '{ref.name}')")
            try:
                actual = file_digest_as(path, ref.sha1)
            except ValueError as e:
                raise ReleaseError(f"{label}: release.MF: {kind}/{i}/sha1: {e}") from None
            if actual != ref.sha1:
                raise ReleaseError(
                    f"{label}: {member} does not match its digest: release.MF says {ref.sha1}, "
                    f"the archive has {actual} (corrupt or tampered tarball)"
                )
    package_names = {p.name for p in manifest.packages} | {p.name for p in manifest.compiled_packages}
    for i, job in enumerate(manifest.jobs):
        for j, pkg in enumerate(job.packages):
            if pkg not in package_names:
                raise ReleaseError(f"{label}: release.MF: jobs/{i}/packages/{j}: package '{pkg}' is not in this release")


def open_release_tarball(path: str | Path, dest_dir: str | Path) -> ReleaseManifest:
    """Safely extract and verify a release tarball into ``dest_dir`` (created; must be empty)."""
    path, dest = Path(path), Path(dest_dir)
    label = str(path)
    created = not dest.exists()
    if not created and any(dest.iterdir()):
        raise ReleaseError(f"{dest}: destination directory is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        try:
            with tarfile.open(path, mode="r:*") as tar:
                safe_extract(tar, dest)
        except FileNotFoundError:
            raise ReleaseError(f"{label}: file not found") from None
        except UnsafeArchive as e:
            raise ReleaseError(f"{label}: unsafe tarball: {e}") from None
        except _ARCHIVE_ERRORS as e:
            raise ReleaseError(f"{label}: not a valid release tarball (corrupt or truncated?): {e}") from None
        manifest = _parse_manifest(dest / "release.MF", label)
        _verify_archives(dest, manifest, label)
        return manifest
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class JobArchive:
    """A job as stored in a release: its spec, monit file and template sources by ``src``."""

    name: str
    spec: JobSpec
    monit: str
    templates: dict[str, str]


def read_job_archive(tgz: str | Path | bytes) -> JobArchive:
    """Read a job archive (path or bytes) in memory; nothing touches the disk."""
    label = "job archive" if isinstance(tgz, bytes) else str(tgz)
    files: dict[str, bytes] = {}
    try:
        fileobj = io.BytesIO(tgz) if isinstance(tgz, bytes) else open(tgz, "rb")
        with fileobj, tarfile.open(fileobj=fileobj, mode="r:*") as tar:
            for name, m in check_members(tar.getmembers()).items():
                if m.isfile():
                    f = tar.extractfile(m)
                    assert f is not None
                    files[name] = f.read()
    except UnsafeArchive as e:
        raise ReleaseError(f"{label}: unsafe job archive: {e}") from None
    except _ARCHIVE_ERRORS as e:
        raise ReleaseError(f"{label}: not a valid job archive (corrupt or truncated?): {e}") from None

    def text(member: str) -> str:
        if member not in files:
            raise ReleaseError(f"{label}: {member} is missing")
        try:
            return files[member].decode("utf-8")
        except UnicodeDecodeError:
            raise ReleaseError(f"{label}: {member} is not UTF-8 text") from None

    try:
        data = yaml.safe_load(text("job.MF"))
    except yaml.YAMLError as e:
        raise ReleaseError(f"{label}: job.MF: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{label}: job.MF: expected a YAML mapping")
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as e:
        raise ReleaseError("\n".join(f"{label}: job.MF: {l}" for l in format_validation_error(e))) from None
    templates = {}
    for src in spec.templates:
        try:
            templates[src] = text(normalize_member_name(f"templates/{src}"))
        except UnsafeArchive as e:
            raise ReleaseError(f"{label}: job.MF: templates/{src}: {e}") from None
    return JobArchive(name=spec.name, spec=spec, monit=text("monit"), templates=templates)
