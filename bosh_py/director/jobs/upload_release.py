"""The upload-release task: verify the tarball, store each job and package blob once per
fingerprint, and record the release version. Nothing is recorded unless all of it is good.

A name and version already stored is the same release only if every job and package has the
same fingerprint and digest: anything else is refused, naming what differs, because keeping
the old content would make the next deploy run code the operator did not upload. ``fix``
(BOSH's ``upload-release --fix``) replaces the stored jobs and packages instead, and drops
the compiled packages of every package it replaced, so they are compiled again from the new
source.

A compiled release (``compiled_packages`` in release.MF, as ``export-release`` writes) is
stored as packages without source plus their compiled blobs, keyed exactly as the compiler
keys its cache, so a deploy on that stemcell finds every package compiled.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bosh_py.director.compiler import SourcePackage, dependency_keys
from bosh_py.director.jobs.delete_release import drop_unreferenced, release_lock
from bosh_py.director.jobs.fetch_release import download, shown_url, verify_digest
from bosh_py.director.models import (
    CompiledPackage,
    Event,
    Package,
    Release,
    ReleaseVersion,
    Template,
)
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError
from bosh_py.release.compiled_tarball import split_stemcell
from bosh_py.release.models import ReleaseManifest
from bosh_py.release.tarball import open_release_tarball


class ReleaseConflict(BoshPyError):
    """An upload whose name and version exist with other content."""


@dataclass(frozen=True)
class UploadOptions:
    fix: bool = False
    sha1: str | None = None              # `--sha1`: the tarball's digest, checked before anything else
    expected_name: str | None = None     # `--name`/`--version`: the tarball must be this release
    expected_version: str | None = None


def content_of(manifest: dict) -> dict[str, tuple[str, str]]:
    """``"job foo"``/``"package bar"`` -> (fingerprint, digest) of a stored or uploaded manifest.
    A compiled package counts as its package: same fingerprint as the source it came from."""
    items = {f"job {j['name']}": (j["fingerprint"], j["sha1"]) for j in manifest.get("jobs") or []}
    items |= {f"package {p['name']}": (p["fingerprint"], p.get("sha1") or "")
              for p in manifest.get("packages") or [] if p.get("sha1")}
    return items


def differences(stored: dict, uploaded: dict) -> list[str]:
    """What an upload changes in a stored release version, one line per job or package.
    Packages the stored version holds only compiled (no source digest) are compared by
    fingerprint alone."""
    old, new = content_of(stored), content_of(uploaded)
    for entry in uploaded.get("compiled_packages") or []:
        new.setdefault(f"package {entry['name']}", (entry["fingerprint"], ""))
    for entry in stored.get("packages") or []:
        if not entry.get("sha1"):
            old.setdefault(f"package {entry['name']}", (entry["fingerprint"], ""))
    lines = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None:
            lines.append(f"{key}: not in the stored version, uploaded with fingerprint {after[0]}")  # type: ignore[index]
        elif after is None:
            lines.append(f"{key}: stored with fingerprint {before[0]}, missing from the upload")
        elif before[0] != after[0]:
            lines.append(f"{key}: stored fingerprint {before[0]}, uploaded {after[0]}")
        elif before[1] and after[1] and before[1] != after[1]:
            lines.append(f"{key} (fingerprint {before[0]}): stored digest {before[1]}, uploaded {after[1]}")
    return lines


def stored_manifest(manifest: ReleaseManifest) -> dict:
    """release.MF as recorded: a compiled package with no source becomes a ``packages`` entry
    without digest, so the deploy finds it where it looks for packages."""
    data = manifest.to_yaml_dict()
    sources = {p["name"] for p in data.get("packages") or []}
    data["packages"] = list(data.get("packages") or []) + [
        {"name": c.name, "version": c.version, "fingerprint": c.fingerprint, "sha1": "",
         "dependencies": list(c.dependencies)} for c in manifest.compiled_packages if c.name not in sources]
    return data


async def run_from_url(director: Director, ctx: TaskContext, url: str, options: UploadOptions) -> str:
    """`upload-release URL`: with --name/--version of a version already stored (and no --fix)
    nothing is downloaded, as BOSH's director does."""
    if options.expected_name and options.expected_version and not options.fix:
        with director.sessions() as session:
            if _version_row(session, options.expected_name, options.expected_version) is not None:
                ctx.log.info(f"Release '{options.expected_name}/{options.expected_version}' already exists")
                return f"Release '{options.expected_name}/{options.expected_version}' already exists"
    handle, name = tempfile.mkstemp(dir=director.config.data_dir / "tmp", suffix=".tgz")
    os.close(handle)
    tarball = Path(name)
    try:
        stage = ctx.log.stage("Downloading remote release", 1)
        with stage.task(shown_url(url)):
            await download(url, tarball, director.config.remote_release_max_bytes, ctx.log)
    except BaseException:
        tarball.unlink(missing_ok=True)
        raise
    return await run(director, ctx, tarball, options)


async def run(director: Director, ctx: TaskContext, tarball: Path, options: UploadOptions = UploadOptions()) -> str:
    workdir = Path(tempfile.mkdtemp(dir=director.config.data_dir / "tmp"))
    try:
        if options.sha1:
            stage = ctx.log.stage("Verifying digest", 1)
            with stage.task(options.sha1):
                await asyncio.to_thread(verify_digest, tarball, options.sha1)
        stage = ctx.log.stage("Extracting release", 1)
        with stage.task("Extracting release"):
            manifest = await asyncio.to_thread(open_release_tarball, tarball, workdir)
        async with director.locks.hold(release_lock(manifest.name), ctx.id):  # one change per release at once
            return await asyncio.to_thread(_store, director, ctx, workdir, manifest, options)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        tarball.unlink(missing_ok=True)


def _store(director: Director, ctx: TaskContext, workdir: Path, manifest: ReleaseManifest,
           options: UploadOptions) -> str:
    name, version = manifest.name, manifest.version
    if options.expected_name and (options.expected_name, options.expected_version) != (name, version):
        raise BoshPyError(f"The tarball holds release '{name}/{version}', not the "
                          f"'{options.expected_name}/{options.expected_version}' given with --name/--version")
    uploaded = stored_manifest(manifest)
    with director.sessions() as session:
        existing = _version_row(session, name, version)
        stored = dict(existing.manifest) if existing else None
    if stored is not None and not options.fix:
        changed = differences(stored, uploaded)
        if changed:
            raise ReleaseConflict(
                f"Release '{name}/{version}' already exists with other content; refusing to keep the old one "
                f"silently. Give the changed release a new version (create-release), or replace the stored "
                f"one with `upload-release --fix`. Differences:\n  " + "\n  ".join(changed))
        if not _missing_compiled(director, manifest) and not _missing_sources(director, manifest):
            ctx.log.info(f"Release '{name}/{version}' already exists")
            return f"Release '{name}/{version}' already exists"

    stored_blobs: list[str] = []  # written by this task: removed again if it fails
    replaced_blobs: list[str] = []  # superseded by --fix: removed once the new rows are committed
    try:
        stage = ctx.log.stage("Creating new packages and jobs",
                              len(manifest.packages) + len(manifest.jobs) + len(manifest.compiled_packages))
        with director.sessions.begin() as session:
            for package in manifest.packages:
                with stage.task(f"{package.name}/{package.fingerprint[:12]}"):
                    _store_package(director, session, name, package, workdir, options.fix, stored_blobs,
                                   replaced_blobs)
            for job in manifest.jobs:
                with stage.task(f"{job.name}/{job.fingerprint[:12]}"):
                    row = _row(session, Template, name, job.name, job.fingerprint)
                    if row is not None and not options.fix:
                        continue
                    blob_id, digest = director.blobstore.put_file(workdir / "jobs" / f"{job.name}.tgz")
                    stored_blobs.append(blob_id)
                    if row is None:
                        session.add(Template(release_name=name, name=job.name, fingerprint=job.fingerprint,
                                             blobstore_id=blob_id, sha1=digest))
                    else:
                        replaced_blobs.append(row.blobstore_id)
                        row.blobstore_id, row.sha1 = blob_id, digest
            _store_compiled(director, session, name, manifest, workdir, options.fix, stage, stored_blobs,
                            replaced_blobs)
            release = session.scalars(select(Release).where(Release.name == name)).first()
            if release is None:
                release = Release(name=name)
                session.add(release)
                session.flush()
            row = _version_row(session, name, version)
            if row is None:
                session.add(ReleaseVersion(release_id=release.id, version=version, manifest=uploaded))
                action = "create"
            else:
                row.manifest = _merged(dict(row.manifest), uploaded) if not options.fix else uploaded
                action = "update"
            if options.fix:  # jobs and packages only the replaced content had
                session.flush()
                replaced_blobs.extend(drop_unreferenced(session))
            session.add(Event(action=action, object_type="release", object_name=f"{name}/{version}",
                              task_id=ctx.id, context={"fix": True} if options.fix else {}))
        stored_blobs.clear()
    finally:
        for blob_id in stored_blobs:  # the DB transaction failed: drop the blobs it would have owned
            director.blobstore.delete(blob_id)
    for blob_id in replaced_blobs:
        director.blobstore.delete(blob_id)
    if stored is not None and options.fix:
        return f"Fixed release '{name}/{version}'"
    if stored is not None:
        return f"Added what release '{name}/{version}' lacked (compiled packages or package sources)"
    return f"Created release '{name}/{version}'"


def _store_package(director: Director, session: Session, release: str, package, workdir: Path,  # type: ignore[no-untyped-def]
                   fix: bool, stored_blobs: list[str], replaced_blobs: list[str]) -> None:
    row = _row(session, Package, release, package.name, package.fingerprint)
    if row is not None and row.blobstore_id and not fix:
        return
    blob_id, digest = director.blobstore.put_file(workdir / "packages" / f"{package.name}.tgz")
    stored_blobs.append(blob_id)
    if row is None:
        session.add(Package(release_name=release, name=package.name, fingerprint=package.fingerprint,
                            dependencies=list(package.dependencies), blobstore_id=blob_id, sha1=digest))
        return
    if row.blobstore_id:
        replaced_blobs.append(row.blobstore_id)
    row.blobstore_id, row.sha1, row.dependencies = blob_id, digest, list(package.dependencies)
    if fix:  # compiled from the source being replaced: compile again
        replaced_blobs.extend(_drop_compiled(session, package.fingerprint))


def _store_compiled(director: Director, session: Session, release: str, manifest: ReleaseManifest, workdir: Path,
                    fix: bool, stage, stored_blobs: list[str], replaced_blobs: list[str]) -> None:  # type: ignore[no-untyped-def]
    if not manifest.compiled_packages:
        return
    refs = {(release, c.name): SourcePackage(release, c.name, c.fingerprint, tuple(c.dependencies), "", "")
            for c in manifest.compiled_packages}
    keys = dependency_keys(refs)
    for compiled in manifest.compiled_packages:
        with stage.task(f"{compiled.name}/{compiled.fingerprint[:12]} compiled for {compiled.stemcell}"):
            os_name, os_version = split_stemcell(compiled.stemcell, f"compiled_packages/{compiled.name}/stemcell")
            if _row(session, Package, release, compiled.name, compiled.fingerprint) is None:
                session.add(Package(release_name=release, name=compiled.name, fingerprint=compiled.fingerprint,
                                    dependencies=list(compiled.dependencies), blobstore_id="", sha1=""))
            row = session.scalars(select(CompiledPackage).where(
                CompiledPackage.package_fingerprint == compiled.fingerprint, CompiledPackage.stemcell_os == os_name,
                CompiledPackage.stemcell_version == os_version,
                CompiledPackage.dependency_key == keys[(release, compiled.name)])).first()
            if row is not None and director.blobstore.exists(row.blobstore_id) and not fix:
                continue
            blob_id, digest = director.blobstore.put_file(workdir / "compiled_packages" / f"{compiled.name}.tgz")
            stored_blobs.append(blob_id)
            if row is None:
                session.add(CompiledPackage(name=compiled.name, package_fingerprint=compiled.fingerprint,
                                            stemcell_os=os_name, stemcell_version=os_version,
                                            dependency_key=keys[(release, compiled.name)], blobstore_id=blob_id,
                                            sha1=digest))
            else:
                replaced_blobs.append(row.blobstore_id)
                row.blobstore_id, row.sha1 = blob_id, digest


def _missing_compiled(director: Director, manifest: ReleaseManifest) -> bool:
    """True when an upload of an existing version brings compiled packages not stored yet."""
    if not manifest.compiled_packages:
        return False
    refs = {(manifest.name, c.name): SourcePackage(manifest.name, c.name, c.fingerprint, tuple(c.dependencies), "", "")
            for c in manifest.compiled_packages}
    keys = dependency_keys(refs)
    with director.sessions() as session:
        for compiled in manifest.compiled_packages:
            os_name, os_version = split_stemcell(compiled.stemcell, f"compiled_packages/{compiled.name}/stemcell")
            row = session.scalars(select(CompiledPackage).where(
                CompiledPackage.package_fingerprint == compiled.fingerprint, CompiledPackage.stemcell_os == os_name,
                CompiledPackage.stemcell_version == os_version,
                CompiledPackage.dependency_key == keys[(manifest.name, compiled.name)])).first()
            if row is None or not director.blobstore.exists(row.blobstore_id):
                return True
    return False


def _missing_sources(director: Director, manifest: ReleaseManifest) -> bool:
    """True when an upload of an existing version brings the source of packages stored
    compiled only (a compiled release uploaded first)."""
    with director.sessions() as session:
        return any(not row.blobstore_id for package in manifest.packages
                   if (row := _row(session, Package, manifest.name, package.name, package.fingerprint)) is not None)


def _merged(stored: dict, uploaded: dict) -> dict:
    """The stored manifest with what an identical upload adds: compiled packages, and the
    source digests of packages stored compiled only."""
    sources = {p["name"]: p for p in uploaded.get("packages") or [] if p.get("sha1")}
    stored["packages"] = [sources.get(p["name"], p) if not p.get("sha1") else p
                          for p in stored.get("packages") or []]
    have = {(c["name"], c["stemcell"]) for c in stored.get("compiled_packages") or []}
    extra = [c for c in uploaded.get("compiled_packages") or [] if (c["name"], c["stemcell"]) not in have]
    if extra:
        stored["compiled_packages"] = list(stored.get("compiled_packages") or []) + extra
    return stored


def _drop_compiled(session: Session, fingerprint: str) -> list[str]:
    rows = list(session.scalars(select(CompiledPackage).where(CompiledPackage.package_fingerprint == fingerprint)))
    session.execute(delete(CompiledPackage).where(CompiledPackage.package_fingerprint == fingerprint))
    return [row.blobstore_id for row in rows]


def _version_row(session: Session, name: str, version: str) -> ReleaseVersion | None:
    return session.scalars(select(ReleaseVersion).join(Release).where(
        Release.name == name, ReleaseVersion.version == version)).first()


def _row(session, model, release: str, name: str, fingerprint: str):  # type: ignore[no-untyped-def]
    return session.scalars(select(model).where(model.release_name == release, model.name == name,
                                               model.fingerprint == fingerprint)).first()

