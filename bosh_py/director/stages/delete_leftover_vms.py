"""Stage "delete leftover vms", run first, under the deployment's lock: the VMs an earlier
task of this deployment made and never handed to an instance, because the director process
running it was killed mid-create or mid-compile (orphan_vms.py records them). While the
lock is held nothing else can be using them, and left alone they keep their IPs, so this
deploy would fail on the first one it needs again. Only the VMs cloud-check would delete go
(their cid recorded, or named by their own agent and confirmed by the CPI:
cck/unknown_vms.py), through cloud-check's own resolution; the rest, and any the CPI will
not delete now, stay for `bosh-py cck` and keep their IPs from this deploy's instances."""

from __future__ import annotations

from bosh_py.director.cck.resolve import resolve
from bosh_py.director.cck.unknown_vms import unknown_vm_problems
from bosh_py.director.concurrency import await_all
from bosh_py.director.stages.context import DeployRun
from bosh_py.errors import BoshPyError

DELETE = "delete_vm"


async def run(r: DeployRun) -> None:
    if r.options.dry_run:
        return
    leftovers = [p for p in await unknown_vm_problems(r.director, r.name, r.log.debug) if p.offered[0] == DELETE]
    if not leftovers:
        return
    stage = r.log.stage("Deleting leftover vms", len(leftovers))

    async def delete(problem) -> None:  # type: ignore[no-untyped-def]
        with stage.task(problem.description):
            try:
                await resolve(r.director, problem, DELETE, r.ctx.id, r.log.debug)
            except BoshPyError as error:  # its IP stays held (the planner skips it); the deploy goes on
                r.log.info(f"{problem.description}: not deleted ({error}); `bosh-py cck` deletes it")

    await await_all(delete(p) for p in leftovers)
