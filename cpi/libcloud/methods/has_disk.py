"""has_disk(disk_cid): whether the volume exists."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, disk_cid: str) -> bool:
    return ctx.provider.has_disk(disk_cid)
