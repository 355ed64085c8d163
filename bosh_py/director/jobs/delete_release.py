"""`bosh-py delete-release NAME[/VERSION]`: remove release versions no deployment uses, and
the jobs, packages, compiled packages and blobs no remaining version needs.

A version is in use when a deployment's stored manifest names it, or names the release as
``latest`` and either this is the newest version (what its next deploy takes) or one of its
instances runs a job of this version (what it runs now). ``--force`` deletes in spite of
that, as BOSH's does.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director import models
from bosh_py.director.models import (
    CompiledPackage,
    Deployment,
    Event,
    Package,
    Release,
    Template,
)
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError
from bosh_py.manifest import load_yaml


def release_lock(name: str) -> str:
    """The lock an upload, delete or clean-up of release ``name`` holds (BOSH's release lock)."""
    return f"release:{name}"


def deployments_using(session: Session, name: str, version: str) -> list[str]:
    """Names of the deployments that use release ``name/version`` (see the module's rules)."""
    release = session.scalars(select(Release).where(Release.name == name)).first()
    versions = list(release.versions) if release else []
    target = next((v for v in versions if v.version == version), None)
    if target is None:
        return []
    newest = max(versions, key=lambda v: v.id)
    own_jobs = {(j["name"], j["fingerprint"]) for j in target.manifest.get("jobs") or []}
    users = []
    for deployment in session.scalars(select(Deployment).order_by(Deployment.name)):
        for entry in release_entries(session, deployment):
            if entry.get("name") != name:
                continue
            wanted = str(entry.get("version", "latest"))
            if wanted == version or (wanted == "latest" and (
                    target is newest or own_jobs & _jobs_running(deployment))):
                users.append(deployment.name)
                break
    return users


def release_entries(session: Session, deployment: Deployment) -> list[dict]:
    """The ``releases:`` entries a deployment was deployed with: its manifest's and those of
    the runtime-configs its last deploy applied (addons)."""
    manifest = load_yaml(deployment.manifest_text, "manifest") if deployment.manifest_text else {}
    entries = [e for e in manifest.get("releases") or [] if isinstance(e, dict)]
    ids = list(getattr(deployment, "runtime_config_ids", None) or [])
    if ids:
        for row in session.scalars(select(models.RuntimeConfig).where(models.RuntimeConfig.id.in_(ids))):
            config = load_yaml(row.content, f"runtime-config '{row.name}'") or {}
            entries += [e for e in config.get("releases") or [] if isinstance(e, dict)]
    return entries


def _jobs_running(deployment: Deployment) -> set[tuple[str, str]]:
    return {(t.get("name"), t.get("version")) for row in deployment.instances
            for t in ((row.applied_spec or {}).get("job") or {}).get("templates") or []}


def deployments_in_use_now(director: Director, name: str, version: str) -> list[str]:
    with director.sessions() as session:
        return deployments_using(session, name, version)


def versions_in_use(session: Session) -> set[tuple[str, str]]:
    return {(release.name, v.version) for release in session.scalars(select(Release)) for v in release.versions
            if deployments_using(session, release.name, v.version)}


def drop_unreferenced(session: Session) -> list[str]:
    """Delete job, package and compiled package rows no release version references any more;
    returns their blob ids, to delete once the transaction is committed."""
    wanted_jobs: set[tuple[str, str, str]] = set()
    wanted_packages: set[tuple[str, str, str]] = set()
    for release in session.scalars(select(Release)):
        for version in release.versions:
            wanted_jobs |= {(release.name, j["name"], j["fingerprint"]) for j in version.manifest.get("jobs") or []}
            wanted_packages |= {(release.name, p["name"], p["fingerprint"])
                                for p in version.manifest.get("packages") or []}
    blobs: list[str] = []
    for model, wanted in ((Template, wanted_jobs), (Package, wanted_packages)):
        for row in list(session.scalars(select(model))):
            if (row.release_name, row.name, row.fingerprint) not in wanted:
                if row.blobstore_id:
                    blobs.append(row.blobstore_id)
                session.delete(row)
    session.flush()
    fingerprints = set(session.scalars(select(Package.fingerprint)))
    for compiled in list(session.scalars(select(CompiledPackage))):
        if compiled.package_fingerprint not in fingerprints:
            blobs.append(compiled.blobstore_id)
            session.delete(compiled)
    return blobs


def check_deletable(director: Director, name: str, version: str | None, force: bool) -> list[str]:
    """Before a task is queued: the versions to delete (all, or the one named), none in use
    unless ``force``."""
    with director.sessions() as session:
        release = session.scalars(select(Release).where(Release.name == name)).first()
        versions = sorted((v.version for v in release.versions), key=str) if release else []
        if version is not None:
            if version not in versions:
                raise BoshPyError(f"Release '{name}/{version}' not found (`bosh-py releases` lists them)")
            versions = [version]
        elif not versions:
            raise BoshPyError(f"Release '{name}' not found (`bosh-py releases` lists them)")
        if not force:
            for each in versions:
                users = deployments_using(session, name, each)
                if users:
                    raise BoshPyError(f"Release '{name}/{each}' is used by deployment(s) {', '.join(users)}; "
                                      f"delete or change those first (or --force)")
    return versions


def delete_versions(director: Director, ctx: TaskContext, name: str, versions: list[str]) -> list[str]:
    """Delete the versions' rows and what only they referenced, then their blobs."""
    with director.sessions.begin() as session:
        release = session.scalars(select(Release).where(Release.name == name)).first()
        if release is None:
            return []
        gone_rows = [v for v in release.versions if v.version in versions]
        gone = [f"{name}/{row.version}" for row in gone_rows]
        for row in gone_rows:
            session.delete(row)
            session.add(Event(action="delete", object_type="release", object_name=f"{name}/{row.version}",
                              task_id=ctx.id))
        session.flush()
        session.expire(release)
        if not release.versions:
            session.delete(release)
        session.flush()
        blobs = drop_unreferenced(session)
    for blob_id in blobs:
        director.blobstore.delete(blob_id)
    return gone


async def run(director: Director, ctx: TaskContext, name: str, version: str | None, force: bool) -> str:
    async with director.locks.hold(release_lock(name), ctx.id):
        versions = check_deletable(director, name, version, force)
        stage = ctx.log.stage("Deleting release", 1)
        with stage.task(f"{name}/{version}" if version else f"{name} ({len(versions)} version(s))"):
            deleted = await asyncio.to_thread(delete_versions, director, ctx, name, versions)
    return f"Deleted release(s) {', '.join(deleted)}" if deleted else f"Release '{name}' had nothing left to delete"
