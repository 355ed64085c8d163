"""reboot_vm(vm_cid): reboot the instance through the IaaS."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, vm_cid: str) -> None:
    ctx.provider.reboot_vm(vm_cid)
