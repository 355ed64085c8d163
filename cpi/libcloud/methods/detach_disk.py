"""detach_disk(vm_cid, disk_cid): a disk that is not attached is not a failure."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, vm_cid: str, disk_cid: str) -> None:
    ctx.provider.detach_disk(vm_cid, disk_cid)
