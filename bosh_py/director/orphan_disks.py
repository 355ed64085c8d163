"""Orphaned persistent disks: what happens to a disk when its instance no longer wants it.

The director never deletes a persistent disk as a side effect of a manifest edit (scale
down, ``persistent_disk`` removed, delete-deployment): the disk is detached and recorded
here, with where it came from, and the CPI keeps its data. It is deleted only once it is
older than ``max_orphaned_age_in_days`` (a periodic clean-up in the director) or when an
operator asks for it by cid. BOSH does the same (``orphan_disks``, ``bosh disks --orphaned``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director.models import Deployment, Event, OrphanDisk, PersistentDisk, utcnow
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError

log = logging.getLogger(__name__)


def orphan(session: Session, disk: PersistentDisk, deployment: str, instance_name: str, az: str | None,
           task_id: int | None = None) -> None:
    """Move a (detached) disk from its instance to the orphans, in the caller's transaction."""
    session.add(OrphanDisk(cid=disk.cid, cpi=disk.cpi, size=disk.size, deployment_name=deployment,
                           instance_name=instance_name, az=az, orphaned_at=utcnow()))
    session.add(Event(action="orphan", object_type="disk", object_name=disk.cid, task_id=task_id,
                      deployment_name=deployment, instance=instance_name,
                      context={"size": disk.size}))
    session.delete(disk)


def expired(orphaned_at: Iterable[tuple[str, datetime]], now: datetime, max_age_days: float) -> list[str]:
    """The cids of disks orphaned longer ago than the retention allows."""
    limit = timedelta(days=max_age_days)
    return [cid for cid, when in orphaned_at if now - when >= limit]


async def delete_orphan(director: Director, cid: str, debug: Callable[[str], None] = lambda _l: None) -> None:
    """Delete one orphaned disk in the CPI that made it, then forget it (a disk the CPI lost
    is forgotten too)."""
    with director.sessions() as session:
        row = session.scalars(select(OrphanDisk).where(OrphanDisk.cid == cid)).first()
        if row is None:
            raise BoshPyError(f"Orphaned disk '{cid}' not found (`bosh-py disks --orphaned` lists them)")
        deployment, cpi = row.deployment_name, row.cpi
    try:
        await director.cpi(debug, cpi).call("delete_disk", cid)
    except BoshPyError as error:
        if getattr(error, "type", "") != "DiskNotFound":
            raise
    with director.sessions.begin() as session:
        row = session.scalars(select(OrphanDisk).where(OrphanDisk.cid == cid)).first()
        if row is not None:
            session.delete(row)
        session.add(Event(action="delete", object_type="disk", object_name=cid, deployment_name=deployment,
                          context={"message": "orphaned disk deleted"}))


async def delete_expired(director: Director, now: datetime | None = None) -> list[str]:
    with director.sessions() as session:
        rows = [(r.cid, r.orphaned_at) for r in session.scalars(select(OrphanDisk))]
    deleted = []
    for cid in expired(rows, now or utcnow(), director.config.max_orphaned_age_in_days):
        try:
            await delete_orphan(director, cid)
            deleted.append(cid)
        except BoshPyError as error:  # keep the row: the next round retries
            log.warning("cannot delete orphaned disk %s: %s", cid, error)
    return deleted


async def clean_up_forever(director: Director, interval: float = 3600.0) -> None:
    """Runs on the director's event loop for its whole life."""
    while True:
        try:
            await delete_expired(director)
        except Exception:  # never let one bad round end the clean-up
            log.exception("orphaned disk clean-up failed")
        await asyncio.sleep(interval)


async def delete_orphan_task(director: Director, ctx: TaskContext, cid: str) -> str:
    """`bosh-py delete-disk CID`: the task body."""
    stage = ctx.log.stage("Deleting orphaned disk", 1)
    with stage.task(cid):
        await delete_orphan(director, cid, ctx.log.debug)
    return f"Deleted orphaned disk {cid}"


def orphan_remaining_disks(session: Session, deployment: Deployment, task_id: int | None = None) -> None:
    """Before a deployment row goes (its instances and disk rows cascade with it), record
    the disks a forced delete could not orphan one by one, so none is forgotten."""
    for instance in deployment.instances:
        for disk in list(instance.disks):
            orphan(session, disk, deployment.name, f"{instance.group}/{instance.uuid}", instance.az, task_id)
    session.flush()
    for instance in deployment.instances:
        session.expire(instance, ["disks"])  # those rows are gone: the cascade must not see them
