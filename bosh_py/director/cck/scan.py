"""Look for problems in one deployment: each instance's VM asked of its CPI (has_vm) and
its agent pinged; its disks checked with the CPI (has_disk) and the agent (list_disk); and
the VMs the director made for it that no instance holds (unknown_vms.py). Looks only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from bosh_py.director.cck.problems import Problem
from bosh_py.director.cck.unknown_vms import unknown_vm_problems
from bosh_py.director.deployment_views import find_deployment
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError

PING_TIMEOUT = 5.0  # an agent that cannot answer a ping in this long is unresponsive


@dataclass(frozen=True)
class DiskRecord:
    id: int
    cid: str
    cpi: str
    active: bool


@dataclass(frozen=True)
class InstanceRecord:
    id: int
    name: str  # group/uuid
    vm_cid: str | None
    agent_id: str | None
    cpi: str
    disks: tuple[DiskRecord, ...]


def instance_records(director: Director, deployment: str) -> list[InstanceRecord]:
    with director.sessions() as session:
        rows = find_deployment(session, deployment).instances
        return [InstanceRecord(i.id, f"{i.group}/{i.uuid}", i.vm_cid, i.agent_id, i.cpi,
                               tuple(DiskRecord(d.id, d.cid, d.cpi, d.active) for d in i.disks))
                for i in sorted(rows, key=lambda r: (r.group, r.index))]


async def agent_answers(director: Director, agent_id: str) -> bool:
    try:
        await director.replies.client(agent_id, timeout=PING_TIMEOUT).call("ping")
        return True
    except BoshPyError:
        return False


async def _check_vm(director: Director, record: InstanceRecord, debug: Callable[[str], None]) -> list[Problem]:
    if not record.vm_cid:
        return []
    if not await director.cpi(debug, record.cpi).call("has_vm", record.vm_cid):
        return [Problem("missing_vm", f"VM {record.vm_cid} of {record.name} is missing", record.id, record.name,
                        record.vm_cid)]
    if not record.agent_id or not await agent_answers(director, record.agent_id):
        return [Problem("unresponsive_agent", f"{record.name} ({record.vm_cid}) is not responding", record.id,
                        record.name, record.vm_cid)]
    active = [d for d in record.disks if d.active]
    if not active:
        return []
    mounted = await director.replies.client(record.agent_id, timeout=PING_TIMEOUT).call("list_disk") or []
    return [Problem("mount_info_mismatch", f"disk {d.cid} of {record.name} is not mounted on its VM",
                    record.id, record.name, d.cid, {"disk_id": d.id})
            for d in active if d.cid not in mounted]


async def _check_disks(director: Director, record: InstanceRecord, debug: Callable[[str], None]) -> list[Problem]:
    problems = []
    for disk in record.disks:
        if not await director.cpi(debug, disk.cpi).call("has_disk", disk.cid):
            problems.append(Problem("missing_disk", f"disk {disk.cid} of {record.name} is missing", record.id,
                                    record.name, disk.cid, {"disk_id": disk.id}))
        elif not disk.active:
            problems.append(Problem("inactive_disk", f"disk {disk.cid} of {record.name} is inactive", record.id,
                                    record.name, disk.cid, {"disk_id": disk.id}))
    return problems


async def scan(director: Director, deployment: str, debug: Callable[[str], None]) -> list[Problem]:
    records = instance_records(director, deployment)
    found: list[list[Problem]] = await asyncio.gather(
        *(_check_vm(director, r, debug) for r in records), *(_check_disks(director, r, debug) for r in records))
    problems = [p for group in found for p in group]
    problems += await unknown_vm_problems(director, deployment, debug)
    return problems
