"""Stage "create missing vms": instances that have no VM get one, and instances that will be
swapped (create-swap-delete) get their new VM beside the running one, up to eight at a
time, before any instance is updated. An instance whose VM is replaced in place
(delete-create) gets it in its turn."""

from __future__ import annotations

import asyncio

from bosh_py.director.concurrency import await_all
from bosh_py.director.models import Instance
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.create_vm import ensure_vm, new_vm_for

PARALLEL = 8  # VMs created at once


async def run(r: DeployRun) -> None:
    fresh, swapped = [], []
    with r.director.sessions() as session:
        for change in r.all_changes():
            if not change.needs_vm:
                continue
            if session.get(Instance, change.instance_id).vm_cid is None:
                fresh.append(change)
            elif change.plan.swap:
                swapped.append(change)
    if not fresh and not swapped:
        return
    stage = r.log.stage("Creating missing vms", len(fresh) + len(swapped))
    limit = asyncio.Semaphore(PARALLEL)

    async def create(change: InstanceChange) -> None:
        async with limit:
            with stage.task(f"{change.plan.name} ({change.plan.index})"):
                await ensure_vm(r.director, change, r.name, r.log.debug)
        change.needs_vm = False

    async def create_beside(change: InstanceChange) -> None:
        async with limit:
            with stage.task(f"{change.plan.name} ({change.plan.index}) (new VM, swapped in later)"):
                change.new_vm = await new_vm_for(r.director, change, r.name, r.log.debug)

    await await_all([*(create(c) for c in fresh), *(create_beside(c) for c in swapped)])
