"""has_vm(vm_cid): whether this CPI holds that VM (a machine it adopted)."""

from cpi.ssh.context import Context
from cpi.ssh.state import read_state


def run(ctx: Context, vm_cid: str) -> bool:
    return vm_cid in read_state(ctx.config.state_dir).vms
