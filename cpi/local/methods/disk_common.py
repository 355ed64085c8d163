"""Lookups shared by the disk methods: which VM holds a disk, and not-found errors."""

from __future__ import annotations

from cpi.local.config import Config
from cpi.local.errors import DiskNotFound, VMNotFound
from cpi.local.state import DiskState, VmState, all_vms


def disk_or_raise(config: Config, disk_cid: str) -> DiskState:
    disk = DiskState.find(config, disk_cid)
    if disk is None:
        raise DiskNotFound(f"disk {disk_cid} not found")
    return disk


def vm_or_raise(config: Config, vm_cid: str) -> VmState:
    state = VmState.find(config, vm_cid)
    if state is None:
        raise VMNotFound(f"VM {vm_cid} not found")
    return state


def holder(config: Config, disk_cid: str) -> VmState | None:
    return next((vm for vm in all_vms(config) if disk_cid in vm.disks), None)


def hint(disk_cid: str) -> str:
    """Where the disk appears inside the VM (the agent's mount_disk mounts it from there)."""
    return f"/var/vcap/bosh/disks/{disk_cid}"
