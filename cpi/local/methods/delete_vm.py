"""delete_vm(vm_cid): power off and remove everything made for the VM; disks survive."""

from cpi.local import vm_runtime
from cpi.local.context import Context
from cpi.local.errors import VMNotFound
from cpi.local.state import VmState


def run(ctx: Context, vm_cid: str) -> None:
    state = VmState.find(ctx.config, vm_cid)
    if state is None:
        raise VMNotFound(f"VM {vm_cid} not found")
    vm_runtime.teardown(state, ctx.config)
    ctx.log(f"deleted VM {vm_cid}; disks detached: {state.disks or 'none'}")
    return None
