"""`bosh-py clean-up [--all]`, as BOSH's: remove what no deployment uses and report it.

- release versions no deployment uses, beyond the newest ``KEEP`` of each release (all
  unused ones with ``--all``), with the jobs, packages and compiled packages only they had;
- stemcells no deployment uses, beyond the newest ``KEEP`` of each name (all with
  ``--all``), each copy through the CPI that holds it;
- orphaned persistent disks, with ``--all`` only (they may hold data someone wants back);
- blobs in the blobstore that nothing refers to (a crash between writing a blob and
  recording it), once older than ``DANGLING_GRACE`` so an upload in flight is never touched.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from bosh_py.director import orphan_disks
from bosh_py.director.blobstore import valid_blob_id
from bosh_py.director.jobs import delete_release, delete_stemcell
from bosh_py.director.models import (
    CompiledPackage,
    Instance,
    OrphanDisk,
    Package,
    Release,
    Stemcell,
    Task,
    Template,
)
from bosh_py.director.services import Director
from bosh_py.director.tasks import UNFINISHED, TaskContext

KEEP = 2
DANGLING_GRACE = 3600.0  # seconds


def release_versions_to_delete(director: Director, remove_all: bool) -> dict[str, list[str]]:
    with director.sessions() as session:
        chosen: dict[str, list[str]] = {}
        for release in session.scalars(select(Release).order_by(Release.name)):
            newest_first = sorted(release.versions, key=lambda v: v.id, reverse=True)
            candidates = newest_first if remove_all else newest_first[KEEP:]
            unused = [v.version for v in candidates if not delete_release.deployments_using(
                session, release.name, v.version)]
            if unused:
                chosen[release.name] = unused
        return chosen


def stemcells_to_delete(director: Director, remove_all: bool) -> list[tuple[str, str]]:
    with director.sessions() as session:
        first_upload: dict[tuple[str, str], int] = {}
        for row in session.scalars(select(Stemcell)):
            key = (row.name, row.version)
            first_upload[key] = min(first_upload.get(key, row.id), row.id)
        by_name: dict[str, list[tuple[str, str]]] = {}
        for key in sorted(first_upload, key=lambda k: first_upload[k], reverse=True):
            by_name.setdefault(key[0], []).append(key)
        chosen = []
        for keys in by_name.values():
            for name, version in (keys if remove_all else keys[KEEP:]):
                if not delete_stemcell.deployments_using(session, name, version):
                    chosen.append((name, version))
        return chosen


def referenced_blobs(director: Director) -> set[str]:
    """Every blob id a row refers to: sources, compiled packages, what instances were applied
    (rendered templates, packages), task results that are blobs (fetched logs, exports), and
    uploads waiting for their task."""
    found: set[str] = set()
    with director.sessions() as session:
        for model in (Package, Template, CompiledPackage):
            found |= set(session.scalars(select(model.blobstore_id)))
        for spec in session.scalars(select(Instance.applied_spec)):
            _collect_ids(spec, found)
        found |= {r for r in session.scalars(select(Task.result)) if r and valid_blob_id(r)}
        for params in session.scalars(select(Task.params).where(Task.state.in_(UNFINISHED))):
            _collect_ids(params, found)  # an upload staged for a task not run yet (task_kinds.UPLOAD)
    return found


def _collect_ids(value: object, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "blobstore_id" and isinstance(item, str):
                found.add(item)
            else:
                _collect_ids(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_ids(item, found)


def dangling_blobs(director: Director, now: float | None = None) -> list[str]:
    """Ids of blobs nothing refers to, written before the grace period (any blobstore)."""
    keep = referenced_blobs(director)
    limit = (now or time.time()) - DANGLING_GRACE
    return sorted(blob_id for blob_id, written in director.blobstore.list_blobs()
                  if valid_blob_id(blob_id) and blob_id not in keep and written < limit)


async def run(director: Director, ctx: TaskContext, remove_all: bool) -> str:
    removed: dict[str, list[str]] = {"releases": [], "stemcells": [], "orphaned_disks": [], "blobs": []}
    releases = await asyncio.to_thread(release_versions_to_delete, director, remove_all)
    stage = ctx.log.stage("Deleting releases", sum(len(v) for v in releases.values()))
    for name, versions in releases.items():
        for version in versions:
            with stage.task(f"{name}/{version}"):
                async with director.locks.hold(delete_release.release_lock(name), ctx.id):
                    if delete_release.deployments_in_use_now(director, name, version):
                        continue  # deployed since it was chosen
                    removed["releases"] += await asyncio.to_thread(delete_release.delete_versions, director, ctx,
                                                                   name, [version])
    stemcells = await asyncio.to_thread(stemcells_to_delete, director, remove_all)
    stage = ctx.log.stage("Deleting stemcells", len(stemcells))
    for name, version in stemcells:
        with stage.task(f"{name}/{version}"):
            await delete_stemcell.run(director, ctx, name, version)
            removed["stemcells"].append(f"{name}/{version}")
    if remove_all:
        with director.sessions() as session:
            cids = list(session.scalars(select(OrphanDisk.cid).order_by(OrphanDisk.id)))
        stage = ctx.log.stage("Deleting orphaned disks", len(cids))
        for cid in cids:
            with stage.task(cid):
                await orphan_disks.delete_orphan(director, cid, ctx.log.debug)
                removed["orphaned_disks"].append(cid)
    blob_ids = await asyncio.to_thread(dangling_blobs, director)
    stage = ctx.log.stage("Deleting dangling blobs", len(blob_ids))
    for blob_id in blob_ids:
        with stage.task(blob_id):
            await asyncio.to_thread(director.blobstore.delete, blob_id)
            removed["blobs"].append(blob_id)
    summary = "; ".join(f"{kind.replace('_', ' ')}: {', '.join(items)}" for kind, items in removed.items() if items)
    return f"Deleted {summary}" if summary else "Nothing to clean up"

