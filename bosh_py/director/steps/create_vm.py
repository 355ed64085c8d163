"""Give an instance the VM its plan asks for: keep the one it has unless the change needs a
new one. The VM's facts are recorded with it (changes.py names what differs next time)."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.changes import VM_SPEC_KEY
from bosh_py.director.models import Instance
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.delete_vm import delete_instance_vm
from bosh_py.director.steps.rows import load, save
from bosh_py.director.vm_lifecycle import CreatedVm, VmRequest, create_vm


async def new_vm_for(director: Director, change: InstanceChange, deployment: str,
                     debug: Callable[[str], None]) -> CreatedVm:
    """A VM as the instance's plan describes it (nothing is recorded on the instance yet)."""
    plan = change.plan
    return await create_vm(director, VmRequest(
        plan.stemcell_cid, plan.cloud_properties, plan.networks, change.group.env,
        {"deployment": deployment, "instance_group": plan.group, "job": plan.group, "index": str(plan.index),
         "id": plan.uuid, "name": plan.name, "director": director.config.name}, plan.cpi,
    ), debug)


def vm_columns(vm: CreatedVm, change: InstanceChange) -> dict[str, object]:
    """The instance row's columns that say which VM it has and what that VM was made with."""
    plan = change.plan
    return {"vm_cid": vm.cid, "cpi": vm.cpi, "agent_id": vm.agent_id, "host_public_key": vm.host_public_key,
            "vm_spec_digest": plan.vm_digest, "ip": plan.ip, "az": plan.az,
            "applied_spec": {VM_SPEC_KEY: plan.vm_spec}}


async def ensure_vm(director: Director, change: InstanceChange, deployment: str,
                    debug: Callable[[str], None]) -> Instance:
    row = load(director, change.instance_id)
    if row.vm_cid and not change.needs_vm:
        return row
    if row.vm_cid:
        await delete_instance_vm(director, row, debug)
    vm = await new_vm_for(director, change, deployment, debug)
    save(director, row.id, **vm_columns(vm, change))
    return load(director, row.id)
