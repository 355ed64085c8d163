"""has_disk(disk_cid)."""

from cpi.ssh.context import Context
from cpi.ssh.state import read_state


def run(ctx: Context, disk_cid: str) -> bool:
    return disk_cid in read_state(ctx.config.state_dir).disks
