"""delete_disk(disk_cid): DiskNotFound when it is already gone."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, disk_cid: str) -> None:
    ctx.provider.delete_disk(disk_cid)
