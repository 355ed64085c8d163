"""Stage "delete orphaned vms", run when the deploy ends, whether it succeeded or not: the
VMs this deploy's swaps replaced (create-swap-delete), and the VMs it made ahead for swaps
it never reached (a failed rollout stops before them). Neither holds an instance. A VM the
CPI fails to delete keeps its record: `bosh-py orphaned-vms` lists it, `bosh-py cck`
deletes it."""

from __future__ import annotations

from bosh_py.director.concurrency import await_all
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.vm_lifecycle import CreatedVm, delete_vm
from bosh_py.errors import BoshPyError


async def run(r: DeployRun) -> None:
    leftovers: list[CreatedVm] = []
    for change in r.all_changes():
        leftovers += [vm for vm in (change.replaced_vm, change.new_vm) if vm is not None]
        change.replaced_vm = change.new_vm = None
    if not leftovers:
        return
    stage = r.log.stage("Deleting orphaned vms", len(leftovers))

    async def delete(vm: CreatedVm) -> None:
        with stage.task(f"{vm.cid} ({vm.ip})"):
            try:
                await delete_vm(r.director, vm.cid, vm.agent_id, r.log.debug, vm.cpi)
            except BoshPyError as error:
                r.log.info(f"VM {vm.cid} was not deleted ({error}); "
                           f"`bosh-py orphaned-vms` lists it and `bosh-py cck` deletes it")

    await await_all(delete(vm) for vm in leftovers)
