"""create-swap-delete's swap: the VM made ahead for the instance (stage "create missing
vms") takes its place. The old VM's jobs are stopped (drained) and its disk detached; the
instance row then names the new VM, and the old one is recorded as orphaned (orphan_vms.py)
in the same transaction, so at no moment does no record hold it. The deploy deletes the
orphaned VM when it ends (stage delete_orphaned_vms); the new VM's turn continues with
mount_disk, apply, start as any other update."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.models import Instance
from bosh_py.director.orphan_vms import orphan_vm
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.create_vm import vm_columns
from bosh_py.director.steps.delete_vm import detach_instance_disk
from bosh_py.director.steps.drain_stop import agent_responds, stop_instance
from bosh_py.director.steps.rows import load
from bosh_py.director.vm_lifecycle import CreatedVm


async def swap_vm(director: Director, change: InstanceChange, row: Instance, deployment: str,
                  debug: Callable[[str], None], skip_drain: bool = False) -> Instance:
    new = change.new_vm
    assert new is not None
    if row.vm_cid and row.agent_id:
        if await agent_responds(director, row.agent_id):
            await stop_instance(director, row.agent_id, "update", debug, tolerate_unresponsive=True,
                                skip_drain=skip_drain, next_spec=change.apply_spec, next_state={"vm": "delete"})
        await detach_instance_disk(director, row, debug)
    with director.sessions.begin() as session:
        instance = session.get(Instance, row.id)
        assert instance is not None
        if row.vm_cid and row.agent_id:
            orphan_vm(session, row.vm_cid, row.agent_id, row.cpi, row.ip, deployment, f"{row.group}/{row.uuid}")
        for column, value in vm_columns(new, change).items():
            setattr(instance, column, value)
    if row.vm_cid and row.agent_id:
        change.replaced_vm = CreatedVm(row.vm_cid, row.agent_id, row.host_public_key or "", row.ip or "", row.cpi)
        debug(f"{change.plan.name}: VM {new.cid} ({new.ip}) replaces {row.vm_cid} ({row.ip}), "
              f"which is orphaned until the deploy ends")
    change.new_vm = None
    return load(director, row.id)
