"""delete_vm(vm_cid): stop every job process and the agent on the machine, unmount and wipe
/var/vcap, take back what bosh-py added (its rc.local or systemd unit, the director's and
one-time keys), then free the machine. The machine itself keeps running, as do its disks
(under disk_root, outside /var/vcap). If the machine cannot be cleaned, the VM stays
recorded and the error names the machine: it is never handed out half-clean."""

from cpi.protocol import VMNotFound
from cpi.ssh.context import Context
from cpi.ssh.remote import describe, run_program
from cpi.ssh.state import locked_state, read_state

STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL for the job processes


def run(ctx: Context, vm_cid: str) -> None:
    record = read_state(ctx.config.state_dir).vms.get(vm_cid)
    if record is None:
        raise VMNotFound(f"VM {vm_cid} not found")
    machine = ctx.config.machine(record.machine)
    if machine is not None:  # a machine dropped from the config can no longer be reached
        answer = run_program(machine, "release", {"stop_timeout": STOP_TIMEOUT})
        ctx.log(f"{describe(machine)} wiped and freed ({answer.get('stopped_processes', 0)} processes stopped)")
    else:
        ctx.log(f"machine '{record.machine}' of VM {vm_cid} is no longer in the config: only forgotten")
    with locked_state(ctx.config.state_dir) as state:
        state.vms.pop(vm_cid, None)
        for disk in state.disks.values():
            if disk.vm == vm_cid:
                disk.vm = None
