"""has_vm(vm_cid): whether the instance exists and is not terminated."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, vm_cid: str) -> bool:
    return ctx.provider.has_vm(vm_cid)
