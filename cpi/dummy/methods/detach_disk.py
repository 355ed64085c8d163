"""detach_disk(vm_cid, disk_cid): move the disk back out of the VM."""

from cpi.dummy import disks
from cpi.dummy.common import disk_record, vm_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state
from cpi.protocol import DiskNotAttached


def run(ctx: Context, vm_cid: str, disk_cid: str) -> None:
    raise_injected(ctx.config, "detach_disk")
    with locked_state(ctx.config) as state:
        vm = vm_record(state, vm_cid)
        disk = disk_record(state, disk_cid)
        if disk.get("vm") != str(vm_cid):
            raise DiskNotAttached(f"detach_disk: disk {disk_cid} is not attached to VM {vm_cid}")
        disks.detach(ctx.config, disk, str(disk_cid))
        vm["disks"] = [d for d in vm.get("disks") or [] if d != str(disk_cid)]
