"""delete_vm(cid): kill the VM's agent and its processes, move attached disks back out,
remove the VM's directory."""

import shutil

from cpi.dummy import agents
from cpi.dummy.common import vm_record
from cpi.dummy.context import Context
from cpi.dummy.disks import detach_all
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state


def run(ctx: Context, cid: str) -> None:
    raise_injected(ctx.config, "delete_vm")
    with locked_state(ctx.config) as state:
        record = vm_record(state, cid)
        vm_dir = ctx.config.vm_dir(str(cid))
        agents.stop_vm_processes(record, vm_dir)
        detach_all(ctx.config, state, str(cid))
        shutil.rmtree(vm_dir, ignore_errors=True)
        del state["vms"][str(cid)]
    ctx.log(f"deleted VM {cid}")
