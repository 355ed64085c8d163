"""attach_disk(vm_cid, disk_cid): move the disk into the VM; answer the hint for mount_disk."""

from cpi.dummy import disks
from cpi.dummy.common import disk_record, vm_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state
from cpi.protocol import CloudError


def run(ctx: Context, vm_cid: str, disk_cid: str) -> str:
    raise_injected(ctx.config, "attach_disk")
    with locked_state(ctx.config) as state:
        vm = vm_record(state, vm_cid)
        disk = disk_record(state, disk_cid)
        if disk.get("vm") == str(vm_cid):
            return disks.hint(str(disk_cid))
        if disk.get("vm"):
            raise CloudError(f"attach_disk: disk {disk_cid} is attached to VM {disk['vm']}")
        disks.attach(ctx.config, disk, str(disk_cid), str(vm_cid))
        vm["disks"] = sorted(set(vm.get("disks") or []) | {str(disk_cid)})
    return disks.hint(str(disk_cid))
