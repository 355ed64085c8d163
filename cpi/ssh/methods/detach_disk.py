"""detach_disk(vm_cid, disk_cid): recorded only (the agent has unmounted it already)."""

from cpi.protocol import DiskNotAttached, DiskNotFound
from cpi.ssh.context import Context
from cpi.ssh.state import locked_state


def run(ctx: Context, vm_cid: str, disk_cid: str) -> None:
    with locked_state(ctx.config.state_dir) as state:
        disk = state.disks.get(disk_cid)
        if disk is None:
            raise DiskNotFound(f"disk {disk_cid} not found")
        if disk.vm != vm_cid:
            raise DiskNotAttached(f"disk {disk_cid} is not attached to VM {vm_cid}")
        disk.vm = None
