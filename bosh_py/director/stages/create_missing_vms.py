"""Stage "create missing vms": instances that have no VM get one, up to eight at a time,
before any instance is updated (an instance whose VM is replaced gets it in its turn)."""

from __future__ import annotations

import asyncio

from bosh_py.director.concurrency import await_all
from bosh_py.director.models import Instance
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.create_vm import ensure_vm

PARALLEL = 8  # VMs created at once


async def run(r: DeployRun) -> None:
    fresh = []
    with r.director.sessions() as session:
        for change in r.all_changes():
            if change.needs_vm and session.get(Instance, change.instance_id).vm_cid is None:
                fresh.append(change)
    if not fresh:
        return
    stage = r.log.stage("Creating missing vms", len(fresh))
    limit = asyncio.Semaphore(PARALLEL)

    async def create(change: InstanceChange) -> None:
        async with limit:
            with stage.task(f"{change.plan.name} ({change.plan.index})"):
                await ensure_vm(r.director, change, r.name, r.log.debug)
        change.needs_vm = False

    await await_all(create(c) for c in fresh)
