"""attach_disk(vm_cid, disk_cid): a disk lives on one machine and is attached only to the VM
on that machine; returns its path there, the hint the agent's mount_disk bind-mounts."""

from cpi.protocol import CloudError, DiskNotFound, VMNotFound
from cpi.ssh.context import Context
from cpi.ssh.state import locked_state


def run(ctx: Context, vm_cid: str, disk_cid: str) -> str:
    with locked_state(ctx.config.state_dir) as state:
        vm, disk = state.vms.get(vm_cid), state.disks.get(disk_cid)
        if vm is None:
            raise VMNotFound(f"VM {vm_cid} not found")
        if disk is None:
            raise DiskNotFound(f"disk {disk_cid} not found")
        if disk.machine != vm.machine:
            raise CloudError(f"disk {disk_cid} lives on machine '{disk.machine}' and cannot be attached to "
                             f"VM {vm_cid} on machine '{vm.machine}' (the ssh CPI does not move disks)")
        if disk.vm not in (None, vm_cid):
            raise CloudError(f"disk {disk_cid} is already attached to VM {disk.vm}")
        disk.vm = vm_cid
    return f"{ctx.config.disk_root}/{disk_cid}"
