"""Bringing one instance to its desired state, as a list of steps (bosh_py/director/steps):
upload the rendered templates and, on a VM that is kept, have the agent fetch them while the
old jobs still run (prepare; done ahead, during the previous batch's watch, by
steps/prepare_ahead.py when the rollout could); drain and stop; recreate the VM if the change needs one
(stemcell, cloud properties, networks, env, CPI, --recreate) — or, with create-swap-delete,
swap in the VM made ahead — mount the persistent disk, apply, start, watch until running,
post-start. Each step's state is written to the DB as soon as it is true, so a failure in
the middle leaves a record that the next deploy can fix. Each update ends with a "Timing"
debug line (steps/timing.py) saying where its time went."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.models import Instance
from bosh_py.director.services import Director
from bosh_py.director.steps.apply import (
    apply_spec,
    apply_uploaded,
    archive_id,
    prepare_spec,
    upload_archive,
)
from bosh_py.director.steps.change import InstanceChange, InstanceUpdateError
from bosh_py.director.steps.create_vm import ensure_vm
from bosh_py.director.steps.delete_vm import delete_instance_vm
from bosh_py.director.steps.drain_stop import agent_responds, stop_instance
from bosh_py.director.steps.mount_disk import ensure_disk
from bosh_py.director.steps.post_start import post_start
from bosh_py.director.steps.prepare_ahead import keeps_vm
from bosh_py.director.steps.rows import load
from bosh_py.director.steps.start import start_jobs
from bosh_py.director.steps.swap_vm import swap_vm
from bosh_py.director.steps.timing import StepTimes
from bosh_py.director.steps.wait_running import wait_until_running

__all__ = ["InstanceChange", "InstanceUpdateError", "agent_responds", "apply_spec", "delete_instance_vm",
           "ensure_disk", "ensure_vm", "stop_instance", "update_instance", "wait_until_running"]


async def update_instance(director: Director, change: InstanceChange, deployment: str,
                          watch: tuple[int, int], debug: Callable[[str], None], skip_drain: bool = False,
                          watching: Callable[[], None] | None = None) -> None:
    """``watching`` is called when the watch begins (the rollout then prepares the next
    batch, steps/prepare_ahead.py)."""
    times = StepTimes()
    try:
        await _update(director, change, deployment, watch, debug, skip_drain, times, watching)
    finally:
        debug(times.line(f"{change.group.name}/{change.plan.index}"))


async def _update(director: Director, change: InstanceChange, deployment: str, watch: tuple[int, int],
                  debug: Callable[[str], None], skip_drain: bool, times: StepTimes,
                  watching: Callable[[], None] | None) -> None:
    row = load(director, change.instance_id)
    old_archive = (row.applied_spec or {}).get("rendered_templates_archive", {}).get("blobstore_id")
    spec, change.prepared_spec = change.prepared_spec, None  # uploaded and fetched ahead (prepare_ahead.py)
    if spec is None:
        with times.measure("upload"):
            spec = await upload_archive(director, change)
    try:
        if "upload" in times.spans and keeps_vm(change, row.vm_cid, row.agent_id):
            with times.measure("prepare"):
                await prepare_spec(director, str(row.agent_id), spec)
        if change.new_vm is not None:
            with times.measure("swap"):
                row = await swap_vm(director, change, row, deployment, debug, skip_drain)
        else:
            row = await replace_or_keep_vm(director, change, row, deployment, debug, skip_drain, times)
        with times.measure("disk"):
            await ensure_disk(director, change, row, debug)
        with times.measure("apply"):
            await apply_uploaded(director, row, spec, old_archive)
    except BaseException:
        director.blobstore.delete(archive_id(spec))  # recorded nowhere yet
        raise
    if change.plan.state == "started":
        with times.measure("start"):
            await start_jobs(director, row.agent_id)
        if watching is not None:
            watching()
        with times.measure("watch"):
            await wait_until_running(director, row.agent_id, watch, change.plan.name, deployment, times)
        with times.measure("post-start"):
            await post_start(director, row.agent_id)


async def replace_or_keep_vm(director: Director, change: InstanceChange, row: Instance, deployment: str,
                             debug: Callable[[str], None], skip_drain: bool,
                             times: StepTimes | None = None) -> Instance:
    """delete-create: stop the jobs (if anything changes), then delete the VM and make the new
    one if the change needs it; the instance has no VM in between."""
    times = times or StepTimes()
    if row.vm_cid and row.agent_id and (change.needs_vm or change.needs_apply):
        with times.measure("stop"):
            if not change.needs_vm or await agent_responds(director, row.agent_id):
                await stop_instance(director, row.agent_id, "update", debug, tolerate_unresponsive=change.needs_vm,
                                    skip_drain=skip_drain, next_spec=change.apply_spec,
                                    next_state={"vm": "delete" if change.needs_vm else "keep"})
            else:
                debug(f"Agent {row.agent_id} does not answer: replacing {change.plan.name}'s VM without stopping it")
    with times.measure("vm"):
        return await ensure_vm(director, change, deployment, debug)  # deletes the old VM first if it needs a new one
