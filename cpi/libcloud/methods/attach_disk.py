"""attach_disk(vm_cid, disk_cid): returns the device hint the agent mounts from."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, vm_cid: str, disk_cid: str) -> str | dict[str, str]:
    return ctx.provider.attach_disk(vm_cid, disk_cid)
