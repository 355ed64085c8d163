"""resize_disk(disk_cid, new_size MB): grow a volume (never shrink)."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, disk_cid: str, new_size: int) -> None:
    ctx.provider.resize_disk(disk_cid, new_size)
