"""Bringing one instance to its desired state, as a list of steps (bosh_py/director/steps):
drain and stop, recreate the VM if the change needs one (stemcell, cloud properties,
networks, env, CPI, --recreate) — or, with create-swap-delete, swap in the VM made ahead —
mount the persistent disk, apply, start, watch until running, post-start. Each step's state is written to the DB as soon as it is true, so a
failure in the middle leaves a record that the next deploy can fix."""

from __future__ import annotations

from typing import Callable

from bosh_py.director.models import Instance
from bosh_py.director.services import Director
from bosh_py.director.steps.apply import apply_spec
from bosh_py.director.steps.change import InstanceChange, InstanceUpdateError
from bosh_py.director.steps.create_vm import ensure_vm
from bosh_py.director.steps.delete_vm import delete_instance_vm
from bosh_py.director.steps.drain_stop import agent_responds, stop_instance
from bosh_py.director.steps.mount_disk import ensure_disk
from bosh_py.director.steps.post_start import post_start
from bosh_py.director.steps.rows import load
from bosh_py.director.steps.start import start_jobs
from bosh_py.director.steps.swap_vm import swap_vm
from bosh_py.director.steps.wait_running import wait_until_running

__all__ = ["InstanceChange", "InstanceUpdateError", "agent_responds", "delete_instance_vm", "ensure_disk",
           "ensure_vm", "stop_instance", "update_instance", "wait_until_running"]


async def update_instance(director: Director, change: InstanceChange, deployment: str,
                          watch: tuple[int, int], debug: Callable[[str], None], skip_drain: bool = False) -> None:
    row = load(director, change.instance_id)
    old_archive = (row.applied_spec or {}).get("rendered_templates_archive", {}).get("blobstore_id")
    if change.new_vm is not None:
        row = await swap_vm(director, change, row, deployment, debug, skip_drain)
    else:
        row = await replace_or_keep_vm(director, change, row, deployment, debug, skip_drain)
    await ensure_disk(director, change, row, debug)
    await apply_spec(director, change, row, old_archive)
    if change.plan.state == "started":
        await start_jobs(director, row.agent_id)
        await wait_until_running(director, row.agent_id, watch, change.plan.name, deployment)
        await post_start(director, row.agent_id)


async def replace_or_keep_vm(director: Director, change: InstanceChange, row: Instance, deployment: str,
                             debug: Callable[[str], None], skip_drain: bool) -> Instance:
    """delete-create: stop the jobs (if anything changes), then delete the VM and make the new
    one if the change needs it; the instance has no VM in between."""
    if row.vm_cid and row.agent_id and (change.needs_vm or change.needs_apply):
        if not change.needs_vm or await agent_responds(director, row.agent_id):
            await stop_instance(director, row.agent_id, "update", debug, tolerate_unresponsive=change.needs_vm,
                                skip_drain=skip_drain, next_spec=change.apply_spec,
                                next_state={"vm": "delete" if change.needs_vm else "keep"})
        else:
            debug(f"Agent {row.agent_id} does not answer: replacing {change.plan.name}'s VM without stopping it")
    return await ensure_vm(director, change, deployment, debug)  # deletes the old VM first if it needs a new one
