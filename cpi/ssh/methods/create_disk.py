"""create_disk(size_mb, cloud_properties, vm_cid): a directory ``disk_root/<cid>`` on the
machine of ``vm_cid`` (the director always names the VM the disk is for). The size is
recorded, not enforced: a directory has no quota. The disk stays on that machine; the
agent bind-mounts it at /var/vcap/store."""

from cpi.protocol import CloudError, VMNotFound
from cpi.ssh.context import Context
from cpi.ssh.remote import run_program
from cpi.ssh.state import DiskRecord, locked_state, new_id, read_state


def run(ctx: Context, size: int, cloud_properties: dict | None = None, vm_cid: str | None = None) -> str:
    try:
        size_mb = int(size)
    except (TypeError, ValueError) as error:
        raise CloudError(f"disk size: expected MB, got {size!r}") from error
    if size_mb <= 0:
        raise CloudError(f"disk size: expected a positive number of MB, got {size_mb}")
    if not vm_cid:
        raise CloudError("the ssh CPI makes a disk on a machine: create_disk needs the VM it is for")
    record = read_state(ctx.config.state_dir).vms.get(vm_cid)
    machine = ctx.config.machine(record.machine) if record else None
    if record is None or machine is None:
        raise VMNotFound(f"VM {vm_cid} not found")
    cid = new_id("disk")
    run_program(machine, "make_disk", {"path": f"{ctx.config.disk_root}/{cid}"})
    with locked_state(ctx.config.state_dir) as state:
        state.disks[cid] = DiskRecord(machine.name, size_mb)
    ctx.log(f"disk {cid} on machine '{machine.name}': {size_mb} MB recorded (not enforced)")
    return cid
