"""get_disks(vm_cid): the disks attached to the VM."""

from cpi.dummy.common import vm_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import read_state


def run(ctx: Context, vm_cid: str) -> list:
    raise_injected(ctx.config, "get_disks")
    return list(vm_record(read_state(ctx.config), vm_cid).get("disks") or [])
