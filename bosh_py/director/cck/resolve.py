"""Carry out the chosen resolution of each problem. Recreates are only collected here: the
job runs them afterwards as the resurrector does (a deploy restricted to those instances,
same IP and persistent disk), since a deploy takes the deployment lock itself."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.cck import disk_resolutions
from bosh_py.director.cck.problems import FORGET, IGNORE, Problem
from bosh_py.director.models import Instance
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


async def _delete_unknown_vm(director: Director, problem: Problem, debug: Callable[[str], None]) -> None:
    """Through its own CPI; its intent forgotten, its agent's access revoked (vm_lifecycle)."""
    vm_cid = problem.data.get("vm_cid")
    if not vm_cid:
        raise CloudCheckError(f"unknown VM of agent {problem.data['agent_id']}: no VM cid to delete")
    await delete_vm(director, vm_cid, problem.data["agent_id"], debug, problem.data["cpi"])


async def _forget_unknown_vm(director: Director, problem: Problem) -> None:
    agent_id = problem.data["agent_id"]
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
    elif resolution == "activate_disk":
        await disk_resolutions.activate_disk(director, problem)
    elif resolution == "delete_disk":
        await disk_resolutions.delete_disk(director, problem, task_id, debug)
    elif resolution == "delete_disk_reference":
        await disk_resolutions.delete_disk_reference(director, problem, debug)
    elif resolution == "delete_vm":
        await _delete_unknown_vm(director, problem, debug)
    elif resolution == FORGET:
        await _forget_unknown_vm(director, problem)
    else:
        raise CloudCheckError(f"unknown resolution '{resolution}'")
    return False
