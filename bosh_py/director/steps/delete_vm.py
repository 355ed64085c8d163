"""Delete an instance's VM: unmount and detach its persistent disk first (the disk is kept)."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.models import Instance
from bosh_py.director.services import Director
from bosh_py.director.steps.drain_stop import agent_responds
from bosh_py.director.steps.rows import active_disk, save
from bosh_py.director.vm_lifecycle import delete_vm
from bosh_py.errors import BoshPyError


async def detach_instance_disk(director: Director, row: Instance, debug: Callable[[str], None]) -> None:
    """Unmount and detach the instance's active disk from its VM, as far as the VM still
    lets it (a dead agent cannot unmount; the CPI detaches anyway)."""
    disk = active_disk(director, row.id)
    if disk is None or not row.vm_cid:
        return
    if await agent_responds(director, row.agent_id):
        try:
            await director.agent(row.agent_id).unmount_disk(disk.cid)
        except BoshPyError as error:
            debug(f"unmount_disk on {row.group}/{row.uuid}: {error}")
    try:
        await director.cpi(debug, row.cpi).call("detach_disk", row.vm_cid, disk.cid)
    except BoshPyError as error:
        debug(f"detach_disk on {row.group}/{row.uuid}: {error}")


async def delete_instance_vm(director: Director, row: Instance, debug: Callable[[str], None]) -> None:
    await detach_instance_disk(director, row, debug)
    await delete_vm(director, row.vm_cid, row.agent_id, debug, row.cpi)
    save(director, row.id, vm_cid=None, agent_id=None, host_public_key=None, vm_spec_digest=None)
