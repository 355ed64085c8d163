"""Device changes for ReconfigVM_Task, and the persistent disks' naming, as plain functions.

Persistent disks are laid out as BOSH's vSphere CPI lays them out: an independent-persistent
VMDK in the folder ``bosh_disks`` of a datastore (vSphere has no free-floating disk outside the
First Class Disk API, and vcsim 0.24 cannot attach or extend those). The disk cid names the file:
``disk-<32 hex>.<datastore, base64url>``, so a cid alone finds the disk, and a VM's attached
disks map back to cids from their backing file names. Independent-persistent disks are left out
of VM snapshots, so reverting a VM never rolls back a persistent disk.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

DISK_FOLDER = "bosh_disks"
DISK_CID = re.compile(r"^disk-([0-9a-f]{32})\.([A-Za-z0-9_-]+)$")
DISK_FILE = re.compile(r"^\[(?P<datastore>[^\]]+)\] " + DISK_FOLDER + r"/disk-(?P<hex>[0-9a-f]{32})\.vmdk$")
SCSI_CONTROLLER_UNIT = 7  # the controller's own unit on its bus
SCSI_UNITS = 16

Spec = vim.vm.device.VirtualDeviceSpec


@dataclass(frozen=True)
class DiskLocation:
    """Where a persistent disk's VMDK lives."""

    datastore: str
    hex_id: str

    @property
    def cid(self) -> str:
        encoded = base64.urlsafe_b64encode(self.datastore.encode()).decode().rstrip("=")
        return f"disk-{self.hex_id}.{encoded}"

    @property
    def folder(self) -> str:
        return f"[{self.datastore}] {DISK_FOLDER}"

    @property
    def file_name(self) -> str:
        return f"disk-{self.hex_id}.vmdk"

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.file_name}"


def new_disk_location(datastore: str) -> DiskLocation:
    return DiskLocation(datastore, uuid.uuid4().hex)


def parse_disk_cid(disk_cid: Any) -> DiskLocation | None:
    """The location a cid names, or None for a string that is no disk cid of this CPI."""
    match = DISK_CID.match(disk_cid) if isinstance(disk_cid, str) else None
    if not match:
        return None
    encoded = match.group(2)
    try:
        datastore = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return DiskLocation(datastore, match.group(1)) if datastore else None


def disk_location_of_file(file_name: str) -> DiskLocation | None:
    match = DISK_FILE.match(file_name or "")
    return DiskLocation(match["datastore"], match["hex"]) if match else None


def persistent_disks(devices: list[Any]) -> dict[str, Any]:
    """The VM's attached persistent disks by cid (devices whose file is in bosh_disks/)."""
    found = {}
    for device in devices:
        if isinstance(device, vim.vm.device.VirtualDisk):
            location = disk_location_of_file(getattr(device.backing, "fileName", ""))
            if location is not None:
                found[location.cid] = device
    return found


def scsi_controller(devices: list[Any]) -> Any | None:
    """The VM's first SCSI controller (lowest bus), where the CPI puts the disks it adds."""
    controllers = [d for d in devices if isinstance(d, vim.vm.device.VirtualSCSIController)]
    return min(controllers, key=lambda c: c.busNumber, default=None)


def free_unit(devices: list[Any], controller: Any, taken: set[int] | None = None) -> int | None:
    """The lowest unit number free on ``controller``'s bus (7 is the controller's own)."""
    used = {SCSI_CONTROLLER_UNIT, *(taken or set())}
    used |= {d.unitNumber for d in devices
             if getattr(d, "controllerKey", None) == controller.key and d.unitNumber is not None}
    return next((unit for unit in range(SCSI_UNITS) if unit not in used), None)


def add_new_disk(controller: Any, unit: int, size_mb: int, datastore: Any, key: int) -> Any:
    """A new thin disk on ``datastore``, in the VM's own folder (the ephemeral disk)."""
    disk = vim.vm.device.VirtualDisk(key=key, controllerKey=controller.key, unitNumber=unit,
                                     capacityInKB=size_mb * 1024)
    disk.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        fileName=f"[{datastore.name}]", datastore=datastore, diskMode="persistent",
        thinProvisioned=True)
    return Spec(operation=Spec.Operation.add, fileOperation=Spec.FileOperation.create, device=disk)


def add_existing_disk(controller: Any, unit: int, location: DiskLocation, datastore: Any,
                      key: int) -> Any:
    """Attach the persistent disk's VMDK as independent-persistent (no file operation)."""
    disk = vim.vm.device.VirtualDisk(key=key, controllerKey=controller.key, unitNumber=unit)
    disk.backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        fileName=location.path, datastore=datastore, diskMode="independent_persistent")
    return Spec(operation=Spec.Operation.add, device=disk)


def detach_disk(device: Any) -> Any:
    """Remove the device from the VM, keeping its file (no ``destroy`` file operation)."""
    return Spec(operation=Spec.Operation.remove, device=device)


def replace_nics(devices: list[Any], network: Any) -> list[Any]:
    """Remove the template's NICs and add one vmxnet3 on ``network`` (port group or network)."""
    changes = [Spec(operation=Spec.Operation.remove, device=d) for d in devices
               if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    nic = vim.vm.device.VirtualVmxnet3(key=-100)
    if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
        nic.backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=network.key,
                                        switchUuid=network.config.distributedVirtualSwitch.uuid))
    else:
        nic.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
            deviceName=network.name, network=network)
    nic.connectable = vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True,
                                                              allowGuestControl=True)
    changes.append(Spec(operation=Spec.Operation.add, device=nic))
    return changes
