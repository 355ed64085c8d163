"""get_disks(vm_cid): the cids of the disks attached to the VM."""

from cpi.local.context import Context
from cpi.local.methods.disk_common import vm_or_raise


def run(ctx: Context, vm_cid: str) -> list[str]:
    return list(vm_or_raise(ctx.config, vm_cid).disks)
