"""set_vm_metadata(vm_cid, metadata): kept in the CPI's state (`bosh-py-cpi-ssh list` shows it);
the machine is not touched."""

from cpi.protocol import VMNotFound
from cpi.ssh.context import Context
from cpi.ssh.state import locked_state


def run(ctx: Context, vm_cid: str, metadata: dict) -> None:
    with locked_state(ctx.config.state_dir) as state:
        record = state.vms.get(vm_cid)
        if record is None:
            raise VMNotFound(f"VM {vm_cid} not found")
        record.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
