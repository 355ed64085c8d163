"""Carry out the chosen resolution of each problem. Recreates are only collected here: the
job runs them afterwards as the resurrector does (a deploy restricted to those instances,
same IP and persistent disk), since a deploy takes the deployment lock itself."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bosh_py.director.cck.problems import IGNORE, Problem
from bosh_py.director.models import Instance, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.orphan_vms import forget
from bosh_py.director.services import Director
from bosh_py.director.vm_lifecycle import delete_vm, revoke_agent
from bosh_py.errors import BoshPyError


class CloudCheckError(BoshPyError):
    pass


def _instance(director: Director, instance_id: int) -> Instance:
    with director.sessions() as session:
        row = session.get(Instance, instance_id)
        if row is None:
            raise CloudCheckError(f"instance {instance_id} no longer exists")
        session.expunge(row)
        return row


async def _delete_vm_reference(director: Director, problem: Problem) -> None:
    row = _instance(director, problem.instance_id)  # type: ignore[arg-type]  # VM problems name one
    with director.sessions.begin() as session:
        live = session.get(Instance, row.id)
        live.vm_cid = live.agent_id = live.host_public_key = live.vm_spec_digest = None  # type: ignore[union-attr]
    if row.agent_id:
        await revoke_agent(director, row.agent_id)


async def _reboot(director: Director, row: Instance, debug: Callable[[str], None]) -> None:
    await director.cpi(debug, row.cpi).call("reboot_vm", row.vm_cid)
    await director.agent(row.agent_id).wait_until_ready(director.config.agent_wait_timeout, ping_timeout=1.0)


async def _reattach(director: Director, problem: Problem, reboot: bool, debug: Callable[[str], None]) -> None:
    row = _instance(director, problem.instance_id)  # type: ignore[arg-type]
    hint = await director.cpi(debug, row.cpi).call("attach_disk", row.vm_cid, problem.resource)
    if reboot:
        await _reboot(director, row, debug)
    await director.agent(row.agent_id).mount_disk(problem.resource, hint)


def _disk_change(director: Director, problem: Problem, resolution: str, task_id: int) -> None:
    with director.sessions.begin() as session:
        disk = session.get(PersistentDisk, problem.data["disk_id"])
        if disk is None:
            return
        if resolution == "delete_disk_reference":
            session.delete(disk)
        elif resolution == "activate_disk":
            others = session.scalars(select(PersistentDisk).where(
                PersistentDisk.instance_id == disk.instance_id, PersistentDisk.active.is_(True))).all()
            if others:
                raise CloudCheckError(f"{problem.instance}: disk {others[0].cid} is already active; "
                                      f"cannot activate {disk.cid} too")
            disk.active = True
        else:  # delete_disk: kept as an orphan (its data may matter), deleted after the retention
            instance = disk.instance
            orphan(session, disk, instance.deployment.name, f"{instance.group}/{instance.uuid}", instance.az,
                   task_id)


async def _delete_unknown_vm(director: Director, problem: Problem, debug: Callable[[str], None]) -> None:
    vm_cid, agent_id = problem.data.get("vm_cid"), problem.data["agent_id"]
    if vm_cid:  # deleted through its own CPI; its intent forgotten, its agent's access revoked
        await delete_vm(director, vm_cid, agent_id, debug, problem.data["cpi"])
        return
    with director.sessions.begin() as session:
        forget(session, agent_id)
    await revoke_agent(director, agent_id)


async def resolve(director: Director, problem: Problem, resolution: str, task_id: int,
                  debug: Callable[[str], None]) -> bool:
    """Apply one resolution; True when the instance still needs its recreate."""
    if resolution == IGNORE:
        return False
    if resolution == "recreate_vm":
        return True
    if resolution == "delete_vm_reference":
        await _delete_vm_reference(director, problem)
    elif resolution == "reboot_vm":
        await _reboot(director, _instance(director, problem.instance_id), debug)  # type: ignore[arg-type]
    elif resolution in ("reattach_disk", "reattach_disk_and_reboot"):
        await _reattach(director, problem, resolution == "reattach_disk_and_reboot", debug)
    elif resolution in ("delete_disk", "activate_disk", "delete_disk_reference"):
        _disk_change(director, problem, resolution, task_id)
    elif resolution == "delete_vm":
        await _delete_unknown_vm(director, problem, debug)
    else:
        raise CloudCheckError(f"unknown resolution '{resolution}'")
    return False
