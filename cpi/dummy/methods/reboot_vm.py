"""reboot_vm(cid): kill the VM's processes and start its agent again (jobs come back as
the agent's persisted state says, as after a real reboot)."""

from cpi.dummy import agents
from cpi.dummy.common import vm_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state
from cpi.protocol import CloudError


def run(ctx: Context, cid: str) -> None:
    raise_injected(ctx.config, "reboot_vm")
    with locked_state(ctx.config) as state:
        record = vm_record(state, cid)
        vm_dir = ctx.config.vm_dir(str(cid))
        if not (vm_dir / agents.SETTINGS).exists():
            raise CloudError(f"reboot_vm: VM {cid} has no agent settings yet")
        agents.stop_vm_processes(record, vm_dir)
        store = vm_dir / "var/vcap/store"
        if store.is_symlink():  # a reboot unmounts; the agent mounts its disk again at start
            store.unlink()
            store.mkdir()
        record.update(agents.start_agent(ctx.config, vm_dir))
