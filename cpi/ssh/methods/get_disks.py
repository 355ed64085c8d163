"""get_disks(vm_cid): the disks attached to a VM."""

from cpi.ssh.context import Context
from cpi.ssh.state import read_state


def run(ctx: Context, vm_cid: str) -> list[str]:
    return sorted(cid for cid, disk in read_state(ctx.config.state_dir).disks.items() if disk.vm == vm_cid)
