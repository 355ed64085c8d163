"""delete_vm(vm_cid): terminate the instance; VMNotFound when it is already gone."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, vm_cid: str) -> None:
    ctx.provider.delete_vm(vm_cid)
