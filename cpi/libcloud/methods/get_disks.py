"""get_disks(vm_cid): the disks attached to the VM."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, vm_cid: str) -> list[str]:
    return ctx.provider.get_disks(vm_cid)
