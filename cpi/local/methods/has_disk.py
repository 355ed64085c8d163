"""has_disk(disk_cid)."""

from cpi.local.context import Context
from cpi.local.state import DiskState


def run(ctx: Context, disk_cid: str) -> bool:
    return DiskState.find(ctx.config, disk_cid) is not None
