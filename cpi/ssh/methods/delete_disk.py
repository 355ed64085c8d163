"""delete_disk(disk_cid): remove the disk's directory from its machine (refused while the disk
is attached or mounted)."""

from cpi.protocol import CloudError, DiskNotFound
from cpi.ssh.context import Context
from cpi.ssh.remote import run_program
from cpi.ssh.state import locked_state, read_state


def run(ctx: Context, disk_cid: str) -> None:
    disk = read_state(ctx.config.state_dir).disks.get(disk_cid)
    if disk is None:
        raise DiskNotFound(f"disk {disk_cid} not found")
    if disk.vm is not None:
        raise CloudError(f"disk {disk_cid} is attached to VM {disk.vm}")
    machine = ctx.config.machine(disk.machine)
    if machine is None:
        raise CloudError(f"disk {disk_cid} is on machine '{disk.machine}', which is no longer in the config")
    run_program(machine, "delete_disk", {"path": f"{ctx.config.disk_root}/{disk_cid}"})
    with locked_state(ctx.config.state_dir) as state:
        state.disks.pop(disk_cid, None)
