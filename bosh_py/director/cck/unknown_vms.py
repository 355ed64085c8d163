"""Unknown VMs as cloud-check problems: the VMs the director made (or may have made) that no
instance holds (orphan_vms.py).

An intent with a cid is a VM to delete. An intent without one (the director died while the
CPI was making the VM) names only an agent id, CPI, IP, deployment and instance. Its NATS
user was added before the CPI was asked and outlives the director (mbus/server.py keeps
users in users.json; only a delete or a failed create that it finished revokes it), so an
agent running on that VM can still answer: its ``get_state`` says ``vm.name``, the cid. The
answer comes from that agent's own credentials (only it may publish on its reply subject),
but the agent runs on a VM and may be compromised, so the cid is believed only when

- no instance row and no other intent holds it (else the agent could name another VM), and
- the intent's own CPI says the VM exists (``has_vm``).

Then the problem offers ``delete_vm``. No answer within ``ANSWER_TIMEOUT``: nothing the
director can find to delete, and it offers ``forget``. An answer that is not believed
offers only ``ignore`` (automatic) or ``forget``, never a delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select

from bosh_py.director.cck.problems import FORGET, IGNORE, Problem
from bosh_py.director.models import Deployment, Instance, VmIntent
from bosh_py.director.orphan_vms import OrphanVm, orphaned_vms
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError

ANSWER_TIMEOUT = 3.0  # a running agent answers get_state in milliseconds
DELETE = ("delete_vm", IGNORE)
NOTHING_FOUND = (FORGET, IGNORE)
NOT_BELIEVED = (IGNORE, FORGET)


def _holders(director: Director) -> dict[str, tuple[str, str | None]]:
    """Every VM cid the director records: cid -> (who holds it, the agent id it was made for)."""
    held: dict[str, tuple[str, str | None]] = {}
    with director.sessions() as session:
        for cid, agent_id in session.execute(select(VmIntent.vm_cid, VmIntent.agent_id).where(
                VmIntent.vm_cid.is_not(None))):
            held[cid] = (f"the unknown VM of agent {agent_id}", agent_id)
        for row, name in session.execute(select(Instance, Deployment.name).join(Deployment).where(
                Instance.vm_cid.is_not(None))):
            held[row.vm_cid] = (f"instance {name}/{row.group}/{row.uuid}", row.agent_id)
    return held


def _problem(vm: OrphanVm, description: str, resource: str | None, resolutions: tuple[str, ...],
             vm_cid: str | None = None) -> Problem:
    return Problem("unknown_vm", description, None, vm.instance, resource,
                   {"agent_id": vm.agent_id, "vm_cid": vm_cid, "cpi": vm.cpi}, resolutions)


def _where(vm: OrphanVm) -> str:
    return f"at {vm.ip or '?'} (agent {vm.agent_id}, CPI '{vm.cpi}')"


async def _identify(director: Director, vm: OrphanVm, held: dict[str, tuple[str, str | None]],
                    debug: Callable[[str], None]) -> Problem:
    """The problem of an intent whose cid was never saved, after asking its agent."""
    try:
        state = await director.replies.client(vm.agent_id, timeout=ANSWER_TIMEOUT).get_state()
    except BoshPyError:
        return _problem(vm, f"VM {_where(vm)} was never saved and no agent answered in {ANSWER_TIMEOUT:g}s: "
                        f"nothing to delete that the director can find", vm.agent_id, NOTHING_FOUND)
    reported = state.get("vm") if isinstance(state, dict) else None
    cid = reported.get("name") if isinstance(reported, dict) else None
    if not isinstance(cid, str) or not cid.strip() or len(cid) > 255:
        return _problem(vm, f"VM {_where(vm)} was never saved; its agent answered without a VM name: "
                        f"not deleted", vm.agent_id, NOT_BELIEVED)
    holder = held.get(cid)
    if holder is not None and holder[1] != vm.agent_id:
        return _problem(vm, f"VM {_where(vm)} was never saved; its agent names VM {cid}, which {holder[0]} "
                        f"holds: not believed, not deleted", vm.agent_id, NOT_BELIEVED)
    try:
        exists = bool(await director.cpi(debug, vm.cpi).call("has_vm", cid))
    except BoshPyError as error:
        return _problem(vm, f"VM {_where(vm)} was never saved; CPI '{vm.cpi}' could not confirm VM {cid} its "
                        f"agent names ({error}): not deleted", vm.agent_id, NOT_BELIEVED)
    if not exists:
        return _problem(vm, f"VM {_where(vm)} was never saved; its agent names VM {cid}, which CPI '{vm.cpi}' "
                        f"does not have: not believed, not deleted", vm.agent_id, NOT_BELIEVED)
    debug(f"unknown VM of agent {vm.agent_id}: its agent named VM {cid}, confirmed by CPI '{vm.cpi}'")
    return _problem(vm, f"VM {cid} {_where(vm)} belongs to no instance (found through its agent: the cid "
                    f"was never saved)", cid, DELETE, cid)


async def unknown_vm_problems(director: Director, deployment: str, debug: Callable[[str], None]) -> list[Problem]:
    with director.sessions.begin() as session:
        unknown = orphaned_vms(session, deployment)
    held = _holders(director) if any(vm.vm_cid is None for vm in unknown) else {}

    async def problem(vm: OrphanVm) -> Problem:
        if vm.vm_cid:
            return _problem(vm, f"VM {vm.vm_cid} {_where(vm)} belongs to no instance", vm.vm_cid, DELETE,
                            vm.vm_cid)
        return await _identify(director, vm, held, debug)

    return list(await asyncio.gather(*(problem(vm) for vm in unknown)))
