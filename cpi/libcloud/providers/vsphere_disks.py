"""Persistent disks on vSphere: independent-persistent VMDKs in a datastore's ``bosh_disks``
folder (``vsphere_devices`` says why), made and deleted by the VirtualDiskManager, found with
the datastore browser, attached and detached with ReconfigVM_Task. libcloud's vSphere driver
has no volume API, so all of it is pyvmomi on the session libcloud logged in."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from cpi.libcloud.errors import CloudError, DiskNotFound, InvalidCall
from cpi.libcloud.providers import vsphere_devices as devices
from cpi.libcloud.providers import vsphere_errors
from cpi.libcloud.providers.vsphere_inventory import NotInDatacenter
from cpi.libcloud.providers.vsphere_session import Session, VsphereError, positive_int

DISK_TYPES = {"thin": "thin", "preallocated": "preallocated", "eager_zeroed": "eagerZeroedThick"}
Browser = vim.host.DatastoreBrowser


class PersistentDisks:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.inventory = session.inventory

    def find(self, disk_cid: str) -> tuple[devices.DiskLocation, Any]:
        """The disk's location and its file's datastore-browser entry; DiskNotFound if gone."""
        location = devices.parse_disk_cid(disk_cid)
        if location is None:
            raise DiskNotFound(f"disk {disk_cid} not found (not a disk cid of this CPI)")
        try:
            datastore = self.inventory.datastore(location.datastore)
        except NotInDatacenter as error:
            raise DiskNotFound(f"disk {disk_cid} not found: {error}") from error
        browser = self.session.call(lambda: datastore.browser)
        search = Browser.SearchSpec(
            matchPattern=[location.file_name],
            query=[Browser.VmDiskQuery(details=Browser.VmDiskQuery.Details(capacityKb=True,
                                                                           diskType=True))],
            details=Browser.FileInfo.Details(fileType=True, fileSize=True))
        try:
            found = self.session.wait(lambda: browser.SearchDatastore_Task(
                datastorePath=location.folder, searchSpec=search))
        except VsphereError as error:
            if vsphere_errors.is_missing(error.fault):
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise
        files = [f for f in getattr(found, "file", None) or [] if f.path == location.file_name]
        if not files:
            raise DiskNotFound(f"disk {disk_cid} not found")
        return location, files[0]

    def exists(self, disk_cid: str) -> bool:
        try:
            self.find(disk_cid)
        except DiskNotFound:
            return False
        return True

    def holders(self, location: devices.DiskLocation) -> list[Any]:
        """The VMs that have the disk attached (among those using its datastore)."""
        datastore = self.inventory.datastore(location.datastore)
        return [vm for vm in self.session.call(lambda: datastore.vm) or []
                if location.cid in devices.persistent_disks(self.session.devices(vm))]

    def _refuse_if_attached(self, disk_cid: str, location: devices.DiskLocation) -> None:
        holders = self.holders(location)
        if holders:
            raise CloudError(f"disk {disk_cid} is attached to "
                             f"{', '.join(sorted(vm.name for vm in holders))}; detach it first")

    def create(self, size_mb: int, cloud_properties: dict[str, Any], vm: Any | None) -> str:
        """A new VMDK on ``cloud_properties.datastore``, else the VM's, else the default."""
        size_mb = positive_int({"size": size_mb}, "size", "create_disk")
        disk_type = cloud_properties.get("type", "preallocated")
        if disk_type not in DISK_TYPES:
            raise InvalidCall(f"create_disk: cloud_properties.type {disk_type!r}: one of "
                              f"{', '.join(DISK_TYPES)}")
        datastore_name = cloud_properties.get("datastore")
        if not datastore_name and vm is not None:
            datastore_name = next((ds.name for ds in self.session.call(lambda: vm.datastore) or []), None)
        datastore_name = datastore_name or self.session.settings.default_datastore
        if not datastore_name:
            raise InvalidCall("create_disk: cloud_properties.datastore (or a vm_cid, or CPI "
                              "config vsphere.default_datastore) is required")
        self.inventory.datastore(str(datastore_name))  # a clear error before anything is made
        location = devices.new_disk_location(str(datastore_name))
        datacenter = self.inventory.datacenter
        content = self.session.content
        try:
            self.session.call(lambda: content.fileManager.MakeDirectory(
                name=location.folder, datacenter=datacenter, createParentDirectories=True))
        except VsphereError as error:
            if not isinstance(error.fault, vim.fault.FileAlreadyExists):
                raise
        spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
            diskType=DISK_TYPES[disk_type], adapterType="lsiLogic", capacityKb=size_mb * 1024)
        self.session.wait(lambda: content.virtualDiskManager.CreateVirtualDisk_Task(
            name=location.path, datacenter=datacenter, spec=spec))
        return location.cid

    def delete(self, disk_cid: str) -> None:
        location, _ = self.find(disk_cid)
        self._refuse_if_attached(disk_cid, location)
        manager = self.session.content.virtualDiskManager
        try:
            self.session.wait(lambda: manager.DeleteVirtualDisk_Task(
                name=location.path, datacenter=self.inventory.datacenter))
        except VsphereError as error:
            if vsphere_errors.is_missing(error.fault):
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise

    def attach(self, vm: Any, vm_cid: str, disk_cid: str) -> dict[str, str]:
        """Attach as independent-persistent on the VM's first SCSI controller. The hint is the
        disk's SCSI unit number on that bus, ``{"id": "2"}``, as bosh-agent's vSphere resolver
        takes it (the guest finds it as SCSI target ``<host>:0:<id>:0``); no /dev/sdX is
        guessed, since the kernel's letters follow probe order, not units."""
        location, _ = self.find(disk_cid)
        present = self.session.devices(vm)
        attached = devices.persistent_disks(present)
        if disk_cid not in attached:
            others = [h.name for h in self.holders(location) if h != vm]
            if others:
                raise CloudError(f"disk {disk_cid} is already attached to VM {', '.join(others)}")
            controller = devices.scsi_controller(present)
            if controller is None:
                raise CloudError(f"VM {vm_cid} has no SCSI controller to attach disk {disk_cid} to")
            unit = devices.free_unit(present, controller)
            if unit is None:
                raise CloudError(f"VM {vm_cid}: no free SCSI unit on its first controller")
            datastore = self.inventory.datastore(location.datastore)
            self.session.reconfigure(vm, vim.vm.ConfigSpec(deviceChange=[
                devices.add_existing_disk(controller, unit, location, datastore, key=-102)]))
            attached = devices.persistent_disks(self.session.devices(vm))
        if disk_cid not in attached:
            raise CloudError(f"disk {disk_cid} was attached to {vm_cid} but vSphere does not list it")
        return {"id": str(attached[disk_cid].unitNumber)}

    def detach(self, vm: Any, vm_cid: str, disk_cid: str) -> None:
        attached = devices.persistent_disks(self.session.devices(vm))
        if disk_cid not in attached:
            self.session.log(f"detach_disk: disk {disk_cid} is not attached to {vm_cid}; nothing to do")
            return
        self.session.reconfigure(vm, vim.vm.ConfigSpec(
            deviceChange=[devices.detach_disk(attached[disk_cid])]))

    def detach_all(self, vm: Any) -> list[str]:
        """Detach every persistent disk (before a Destroy, which deletes all a VM holds)."""
        attached = devices.persistent_disks(self.session.devices(vm))
        if attached:
            self.session.reconfigure(vm, vim.vm.ConfigSpec(
                deviceChange=[devices.detach_disk(d) for d in attached.values()]))
        return sorted(attached)

    def of_vm(self, vm: Any) -> list[str]:
        return sorted(devices.persistent_disks(self.session.devices(vm)))

    def resize(self, disk_cid: str, new_size_mb: int) -> None:
        """ExtendVirtualDisk_Task on a detached disk; grow only, so the current capacity must be
        known (the datastore browser reports it; vcsim 0.24 does not, nor can it extend)."""
        new_size_mb = positive_int({"size": new_size_mb}, "size", "resize_disk")
        location, info = self.find(disk_cid)
        capacity_kb = getattr(info, "capacityKb", None)
        if not capacity_kb:
            raise CloudError(f"resize_disk: {self.session.settings.where} reports no capacity for "
                             f"disk {disk_cid}, so it cannot be checked that the resize grows it; "
                             "nothing was changed")
        current_mb = capacity_kb // 1024
        if new_size_mb < current_mb:
            raise CloudError(f"disk {disk_cid}: cannot shrink from {current_mb} MB to {new_size_mb} MB")
        if new_size_mb == current_mb:
            self.session.log(f"resize_disk: {disk_cid} is already {current_mb} MB")
            return
        self._refuse_if_attached(disk_cid, location)
        manager = self.session.content.virtualDiskManager
        self.session.wait(lambda: manager.ExtendVirtualDisk_Task(
            name=location.path, datacenter=self.inventory.datacenter,
            newCapacityKb=new_size_mb * 1024, eagerZero=False))
