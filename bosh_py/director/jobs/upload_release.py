"""The upload-release task: verify the tarball, store each job and package blob once per
fingerprint, and record the release version. Nothing is recorded unless all of it is good."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select

from bosh_py.director.models import Event, Package, Release, ReleaseVersion, Template
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.release.tarball import open_release_tarball


async def run(director: Director, ctx: TaskContext, tarball: Path) -> str:
    workdir = Path(tempfile.mkdtemp(dir=director.config.data_dir / "tmp"))
    stored: list[str] = []
    try:
        stage = ctx.log.stage("Extracting release", 1)
        with stage.task("Extracting release"):
            manifest = await asyncio.to_thread(open_release_tarball, tarball, workdir)
        name, version = manifest.name, manifest.version
        with director.sessions() as session:
            release = session.scalars(select(Release).where(Release.name == name)).first()
            if release and any(v.version == version for v in release.versions):
                ctx.log.info(f"Release '{name}/{version}' already exists")
                return f"Release {name}/{version} already exists"
        stage = ctx.log.stage("Creating new packages and jobs", len(manifest.packages) + len(manifest.jobs))
        with director.sessions.begin() as session:
            for package in manifest.packages:
                with stage.task(f"{package.name}/{package.fingerprint[:12]}"):
                    if _known(session, Package, name, package.name, package.fingerprint):
                        continue
                    blob_id, digest = director.blobstore.put_file(workdir / "packages" / f"{package.name}.tgz")
                    stored.append(blob_id)
                    session.add(Package(release_name=name, name=package.name, fingerprint=package.fingerprint,
                                        dependencies=list(package.dependencies), blobstore_id=blob_id, sha1=digest))
            for job in manifest.jobs:
                with stage.task(f"{job.name}/{job.fingerprint[:12]}"):
                    if _known(session, Template, name, job.name, job.fingerprint):
                        continue
                    blob_id, digest = director.blobstore.put_file(workdir / "jobs" / f"{job.name}.tgz")
                    stored.append(blob_id)
                    session.add(Template(release_name=name, name=job.name, fingerprint=job.fingerprint,
                                         blobstore_id=blob_id, sha1=digest))
            release = session.scalars(select(Release).where(Release.name == name)).first()
            if release is None:
                release = Release(name=name)
                session.add(release)
                session.flush()
            session.add(ReleaseVersion(release_id=release.id, version=version, manifest=manifest.to_yaml_dict()))
            session.add(Event(action="create", object_type="release", object_name=f"{name}/{version}", task_id=ctx.id))
        stored.clear()
        return f"Created release '{name}/{version}'"
    finally:
        for blob_id in stored:  # the DB transaction failed: drop the blobs it would have owned
            director.blobstore.delete(blob_id)
        shutil.rmtree(workdir, ignore_errors=True)
        tarball.unlink(missing_ok=True)


def _known(session, model, release: str, name: str, fingerprint: str) -> bool:  # type: ignore[no-untyped-def]
    return session.scalars(select(model).where(model.release_name == release, model.name == name,
                                               model.fingerprint == fingerprint)).first() is not None
