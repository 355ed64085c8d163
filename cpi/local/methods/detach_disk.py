"""detach_disk(vm_cid, disk_cid): unmount the disk from the VM; its data stays."""

from cpi.local import mounts
from cpi.local.context import Context
from cpi.local.errors import DiskNotAttached
from cpi.local.locking import locked
from cpi.local.methods.disk_common import disk_or_raise, vm_or_raise


def run(ctx: Context, vm_cid: str, disk_cid: str) -> None:
    with locked(ctx.config.root):
        state = vm_or_raise(ctx.config, vm_cid)
        disk_or_raise(ctx.config, disk_cid)
        if disk_cid not in state.disks:
            raise DiskNotAttached(f"disk {disk_cid} is not attached to VM {vm_cid}")
        target = state.dir(ctx.config) / "disks" / disk_cid
        mounts.unmount_all_under(target)
        target.rmdir()
        state.disks.remove(disk_cid)
        state.save(ctx.config)
    return None
