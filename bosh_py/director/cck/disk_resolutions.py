"""The disk resolutions of cloud check, as BOSH carries them out (its problem handlers
``inactive_disk.rb`` and ``missing_disk.rb``), except that ``delete_disk`` orphans the disk
instead of destroying it (its data may matter; it is deleted after the retention):

- ``activate_disk``: only a disk the VM has mounted, and only while the instance has no
  other active disk (one persistent disk per instance);
- ``delete_disk``: only a disk the VM has not mounted; detached from the VM first, so the
  orphan can be deleted or attached elsewhere later;
- ``delete_disk_reference`` (the IaaS lost the disk): the agent unmounts what is left of it
  and the CPI detaches it as far as either still can, then the row goes, so the next deploy
  gives the instance a new disk instead of failing on the stale mount.

An instance left without an active disk has ``persistent_disk: 0`` recorded in its applied
spec (what it now has), so the next deploy sees the change and makes it a disk again.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director.cck.problems import Problem
from bosh_py.director.cpi_client import DiskNotAttached, DiskNotFound, VMNotFound
from bosh_py.director.models import Instance, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError

AGENT_TIMEOUT = 10.0  # list_disk / unmount_disk of a live agent answer in well under a second


class DiskResolutionError(BoshPyError):
    pass


def _disk_and_vm(director: Director, problem: Problem) -> tuple[PersistentDisk, Instance] | None:
    with director.sessions() as session:
        disk = session.get(PersistentDisk, problem.data["disk_id"])
        if disk is None:
            return None
        instance = disk.instance
        session.expunge(disk)
        session.expunge(instance)
        return disk, instance


async def _mounted(director: Director, instance: Instance, disk_cid: str) -> bool:
    if not instance.vm_cid or not instance.agent_id:
        return False
    try:
        listed = await director.replies.client(instance.agent_id, timeout=AGENT_TIMEOUT).list_disk()
    except BoshPyError as error:
        raise DiskResolutionError(f"{problem_name(instance)}: cannot tell whether disk {disk_cid} is mounted "
                                  f"(the agent does not answer list_disk: {error})") from None
    return disk_cid in (listed or [])


def problem_name(instance: Instance) -> str:
    return f"{instance.group}/{instance.uuid}"


async def _detach(director: Director, instance: Instance, disk_cid: str, debug: Callable[[str], None]) -> None:
    if not instance.vm_cid:
        return
    try:
        await director.cpi(debug, instance.cpi).call("detach_disk", instance.vm_cid, disk_cid)
    except (DiskNotAttached, DiskNotFound, VMNotFound) as error:
        debug(f"detach_disk {disk_cid} from {instance.vm_cid}: {error}")


def _record_diskless(session: Session, instance_id: int, gone_disk_id: int) -> None:
    row = session.get(Instance, instance_id)
    if row is None or any(d.active and d.id != gone_disk_id for d in row.disks):
        return
    spec = dict(row.applied_spec or {})
    if spec.get("persistent_disk"):
        spec["persistent_disk"] = 0
        row.applied_spec = spec  # a new dict: the JSON column sees the change


async def activate_disk(director: Director, problem: Problem) -> None:
    found = _disk_and_vm(director, problem)
    if found is None:
        return
    disk, instance = found
    if not await _mounted(director, instance, disk.cid):
        raise DiskResolutionError(f"{problem_name(instance)}: disk {disk.cid} is not mounted on its VM; "
                                  f"only a mounted disk can be activated")
    with director.sessions.begin() as session:
        others = session.scalars(select(PersistentDisk).where(
            PersistentDisk.instance_id == instance.id, PersistentDisk.active.is_(True),
            PersistentDisk.id != disk.id)).all()
        if others:
            raise DiskResolutionError(f"{problem_name(instance)}: disk {others[0].cid} is already active; "
                                      f"cannot activate {disk.cid} too")
        live = session.get(PersistentDisk, disk.id)
        if live is not None:
            live.active = True


async def delete_disk(director: Director, problem: Problem, task_id: int, debug: Callable[[str], None]) -> None:
    found = _disk_and_vm(director, problem)
    if found is None:
        return
    disk, instance = found
    if await _mounted(director, instance, disk.cid):
        raise DiskResolutionError(f"{problem_name(instance)}: disk {disk.cid} is mounted on its VM (in use); "
                                  f"not deleted")
    await _detach(director, instance, disk.cid, debug)
    with director.sessions.begin() as session:
        live = session.get(PersistentDisk, disk.id)
        if live is not None:
            orphan(session, live, live.instance.deployment.name, problem_name(instance), instance.az, task_id)
            _record_diskless(session, instance.id, disk.id)


async def delete_disk_reference(director: Director, problem: Problem, debug: Callable[[str], None]) -> None:
    found = _disk_and_vm(director, problem)
    if found is None:
        return
    disk, instance = found
    if instance.vm_cid and instance.agent_id:
        try:
            await director.replies.client(instance.agent_id, timeout=AGENT_TIMEOUT).unmount_disk(disk.cid)
        except BoshPyError as error:  # what is left of a lost disk may not unmount; the row goes anyway
            debug(f"unmount_disk {disk.cid} on {problem_name(instance)}: {error}")
    await _detach(director, instance, disk.cid, debug)
    with director.sessions.begin() as session:
        live = session.get(PersistentDisk, disk.id)
        if live is not None:
            session.delete(live)
            _record_diskless(session, instance.id, disk.id)
