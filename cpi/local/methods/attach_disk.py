"""attach_disk(vm_cid, disk_cid): bind the disk into the VM's shared disks directory.

The bind mount on the host propagates into the running VM (whose view of that directory
is a slave), so the disk appears at /var/vcap/bosh/disks/<disk_cid> without a reboot.
Returns that path as the hint for the agent's mount_disk.
"""

from cpi.local import mounts, ownership
from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.locking import locked
from cpi.local.methods.disk_common import disk_or_raise, hint, holder, vm_or_raise


def run(ctx: Context, vm_cid: str, disk_cid: str) -> str:
    with locked(ctx.config.root):
        state = vm_or_raise(ctx.config, vm_cid)
        disk = disk_or_raise(ctx.config, disk_cid)
        attached = holder(ctx.config, disk_cid)
        if attached is not None and attached.cid != vm_cid:
            raise CloudError(f"disk {disk_cid} is already attached to VM {attached.cid}")
        ownership.disk(ctx.config, disk)
        mounts.bind(disk.data(ctx.config), state.dir(ctx.config) / "disks" / disk_cid)
        if disk_cid not in state.disks:
            state.disks.append(disk_cid)
            state.save(ctx.config)
    return hint(disk_cid)
