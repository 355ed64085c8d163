"""has_vm(vm_cid): whether the VM exists (running or not), as the director's cck asks."""

from cpi.local.context import Context
from cpi.local.state import VmState


def run(ctx: Context, vm_cid: str) -> bool:
    return VmState.find(ctx.config, vm_cid) is not None
