"""set_vm_metadata(vm_cid, metadata): recorded beside the VM (shown by ``list``)."""

from cpi.local.context import Context
from cpi.local.errors import VMNotFound
from cpi.local.state import VmState, write_json


def run(ctx: Context, vm_cid: str, metadata: dict) -> None:
    state = VmState.find(ctx.config, vm_cid)
    if state is None:
        raise VMNotFound(f"VM {vm_cid} not found")
    write_json(state.dir(ctx.config) / "metadata.json", metadata or {})
    return None
