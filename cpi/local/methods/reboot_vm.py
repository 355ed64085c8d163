"""reboot_vm(vm_cid): kill PID 1 and boot again with the same IP, upper layer and disks.

The host-side disk mounts are untouched and the new boot gets a new network namespace
(made in its new user namespace) with the same name, IP and MAC, so the VM comes back as
it was, minus its processes; its init runs /etc/rc.local again (the agent's start). After
a host reboot (netns and mounts gone, state kept) the same call re-makes them.
"""

from cpi.local import vm_runtime
from cpi.local.context import Context
from cpi.local.errors import VMNotFound
from cpi.local.locking import locked
from cpi.local.state import VmState


def run(ctx: Context, vm_cid: str) -> None:
    state = VmState.find(ctx.config, vm_cid)
    if state is None:
        raise VMNotFound(f"VM {vm_cid} not found")
    vm_runtime.power_off(state, ctx.config)
    with locked(ctx.config.root):
        state = VmState.find(ctx.config, vm_cid) or state  # attach/detach may have changed it
        vm_runtime.prepare_host_objects(state, ctx.config)
    vm_runtime.boot(state, ctx.config)
    vm_runtime.wait_for_ssh(state, ctx.config, ctx.config.boot_timeout)
    return None
