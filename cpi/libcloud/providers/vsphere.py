"""The vSphere provider: each CPI verb against vCenter, through libcloud's VSphereNodeDriver
where it has the call and pyvmomi (which that driver is built on) where it has not.

libcloud logs in (``vsphere_connect``) and finds light-stemcell templates (``list_images``). Its
``create_node`` cannot set guestinfo, an annotation or a disk layout, its ``reboot_node`` needs
VMware Tools (RebootGuest), and it has no volume API at all; so VMs are cloned, reconfigured
and powered on (here), and disks made and attached (``vsphere_disks``), with pyvmomi calls on
the same logged-in session (``vsphere_session``).

A VM is created as BOSH's vSphere CPI creates one: clone the stemcell template (powered off)
into the cluster's resource pool and the datastore, then one ReconfigVM_Task sets CPU, memory,
the annotation (``bosh agent_id=…``), one NIC on the network's port group and a thin ephemeral
disk, a second one the guestinfo user data and metadata (which name the NIC's MAC and the disks'
SCSI units, known only once vCenter made them), then power on. Anything failing after the clone exists destroys
the clone before the error is answered. The vm cid is the VM's instance UUID.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from pyVmomi import vim

from cpi.libcloud.errors import CloudError, InvalidCall, NotImplementedFailure, VMCreationFailed, VMNotFound
from cpi.libcloud.provider import VmSpec
from cpi.libcloud.providers import vsphere_devices as devices
from cpi.libcloud.providers import vsphere_errors
from cpi.libcloud.providers.common import primary_network
from cpi.libcloud.providers.vsphere_connect import parse_settings
from cpi.libcloud.providers.vsphere_disks import PersistentDisks
from cpi.libcloud.providers.vsphere_guestinfo import check_settings, extra_config, made_devices
from cpi.libcloud.providers.vsphere_inventory import NotInDatacenter
from cpi.libcloud.providers.vsphere_session import Session, VsphereError, is_retryable, positive_int

SNAPSHOT_WHY = ("vSphere snapshots whole VMs, and a persistent disk is independent-persistent, "
                "so VM snapshots leave it out")


class VsphereProvider:
    stemcell_formats = ("vsphere-light",)

    def __init__(self, settings: dict[str, Any], log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = parse_settings(settings)
        self.log = log
        self.session = Session(self.settings, log, sleep)
        self.driver = self.session.driver
        self.content = self.session.content
        self.inventory = self.session.inventory
        self.disks = PersistentDisks(self.session)

    # --- stemcells (light: an existing template) -----------------------------------------

    def create_stemcell(self, cloud_properties: dict[str, Any]) -> str:
        """A light stemcell names an existing template (name or instance UUID); its instance
        UUID is the stemcell cid."""
        wanted = cloud_properties.get("template")
        if not isinstance(wanted, str) or not wanted:
            raise CloudError("light stemcell: cloud_properties.template (a vSphere template's "
                             "name or instance UUID) is required")
        images = self.session.call(self.driver.list_images)
        matches = [image for image in images if wanted in (image.id, image.name)]
        if not matches:
            raise CloudError(f"light stemcell template {wanted!r} is not a template in vCenter")
        if len(matches) > 1:
            raise CloudError(f"light stemcell template {wanted!r} names {len(matches)} templates; "
                             "give its instance UUID")
        if self.inventory.machine(matches[0].id, template=True) is None:
            raise CloudError(f"light stemcell template {wanted!r} is not in datacenter "
                             f"{self.settings.datacenter!r}")
        return str(matches[0].id)

    def delete_stemcell(self, stemcell_cid: str) -> None:
        self.log(f"light stemcell {stemcell_cid}: the template is the operator's, left in place")

    # --- VMs -----------------------------------------------------------------------------

    def create_vm(self, spec: VmSpec) -> tuple[str, dict[str, Any]]:
        props = spec.cloud_properties
        cpu, ram, disk = (positive_int(props, key, "create_vm") for key in ("cpu", "ram", "disk"))
        self._check_datacenter(props)
        check_settings(spec.user_data)
        network_name = self._network_name(spec.networks, props)
        cluster_name = props.get("cluster") or self.settings.default_cluster
        if not cluster_name:
            raise InvalidCall("create_vm: cloud_properties.cluster (or CPI config "
                              "vsphere.default_cluster) is required")
        datastore_name = props.get("datastore") or self._datastore_of_disks(spec.disk_cids) or \
            self.settings.default_datastore
        if not datastore_name:
            raise InvalidCall("create_vm: cloud_properties.datastore (or CPI config "
                              "vsphere.default_datastore) is required")
        template = self.inventory.machine(spec.stemcell_cid, template=True)
        if template is None:
            raise VMCreationFailed(f"create_vm for agent {spec.agent_id}: stemcell template "
                                   f"{spec.stemcell_cid} not found in datacenter "
                                   f"{self.settings.datacenter!r}")
        try:
            cluster = self.inventory.cluster(str(cluster_name))
            datastore = self.inventory.datastore(str(datastore_name))
            network = self.inventory.network(str(network_name))
        except NotInDatacenter as error:
            raise VMCreationFailed(f"create_vm for agent {spec.agent_id}: {error}") from error

        name = f"vm-{uuid.uuid4()}"
        vm = self._clone(template, name, cluster, datastore, spec.agent_id)
        try:
            self._configure_new_vm(vm, spec, name, cpu, ram, disk, datastore, network)
            self.session.wait(vm.PowerOnVM_Task)
            vm_cid = str(self.session.call(lambda: vm.config.instanceUuid))
        except Exception as error:
            self.log(f"create_vm: {name} failed after it was cloned; destroying it")
            cleanup = self._destroy_quietly(vm)
            raise VMCreationFailed(f"create_vm for agent {spec.agent_id}: {name} failed after it "
                                   f"was cloned and {cleanup}: {error}",
                                   ok_to_retry=is_retryable(error)) from error
        return vm_cid, {name_: dict(net) for name_, net in spec.networks.items()}

    def _clone(self, template: Any, name: str, cluster: Any, datastore: Any, agent_id: str) -> Any:
        pool = self.session.call(lambda: cluster.resourcePool)
        folder = self.session.call(lambda: self.inventory.datacenter.vmFolder)
        clone_spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=pool, datastore=datastore),
                                      powerOn=False, template=False)
        try:  # a clone task that fails registers no VM: vCenter undoes it itself
            return self.session.wait(lambda: template.Clone(folder=folder, name=name, spec=clone_spec))
        except CloudError as error:
            raise VMCreationFailed(f"create_vm for agent {agent_id}: cloning the stemcell "
                                   f"failed: {error}", ok_to_retry=is_retryable(error)) from error

    def _configure_new_vm(self, vm: Any, spec: VmSpec, name: str, cpu: int, ram: int, disk: int,
                          datastore: Any, network: Any) -> None:
        present = self.session.devices(vm)
        controller = devices.scsi_controller(present)
        if controller is None:
            raise CloudError("the stemcell template has no SCSI controller for the ephemeral disk")
        unit = devices.free_unit(present, controller)
        if unit is None:
            raise CloudError("the stemcell template's SCSI controller has no free unit")
        changes = devices.replace_nics(present, network)
        changes.append(devices.add_new_disk(controller, unit, disk, datastore, key=-101))
        self.session.reconfigure(vm, vim.vm.ConfigSpec(
            numCPUs=cpu, memoryMB=ram, annotation=f"bosh agent_id={spec.agent_id}",
            deviceChange=changes))
        # the settings name what vCenter just made (the NIC's MAC, the disks' units): a second
        # reconfigure, still before power-on, as BOSH's vSphere CPI writes its env after the clone
        made = made_devices(self.session.devices(vm), controller.key, unit)
        self.session.reconfigure(vm, vim.vm.ConfigSpec(extraConfig=extra_config(spec.user_data, name, made)))

    def _network_name(self, networks: dict[str, Any], props: dict[str, Any]) -> str:
        network = primary_network(networks)
        name = (network.get("cloud_properties") or {}).get("name") or props.get("network")
        if not isinstance(name, str) or not name:
            raise InvalidCall("create_vm: the network's cloud_properties.name (a vSphere port "
                              "group or network) is required")
        return name

    def _check_datacenter(self, props: dict[str, Any]) -> None:
        asked = props.get("datacenter")
        if asked is not None and asked != self.settings.datacenter:
            raise InvalidCall(f"create_vm: cloud_properties.datacenter {asked!r} is not this CPI's "
                              f"datacenter {self.settings.datacenter!r} (one CPI config per "
                              "datacenter)")

    def _datastore_of_disks(self, disk_cids: list[str]) -> str | None:
        """Disk locality: put the VM where its persistent disk already is."""
        for disk_cid in disk_cids:
            location = devices.parse_disk_cid(disk_cid)
            if location is not None:
                return location.datastore
        return None

    def _destroy_quietly(self, vm: Any) -> str:
        """Power off and destroy a half-made VM; the outcome, for the error message."""
        try:
            self._power_off(vm)
            self.session.wait(vm.Destroy_Task)
        except CloudError as failure:
            return f"could not be destroyed, destroy it by hand: {failure}"
        return "was destroyed"

    def _power_off(self, vm: Any) -> None:
        if self.session.call(lambda: vm.runtime.powerState) == vim.VirtualMachinePowerState.poweredOn:
            self.session.wait(vm.PowerOffVM_Task)

    def delete_vm(self, vm_cid: str) -> None:
        """Detach the persistent disks first: destroying a VM deletes every disk it holds."""
        vm = self.inventory.vm(vm_cid)
        detached = self.disks.detach_all(vm)
        if detached:
            self.log(f"delete_vm: detached persistent disks {', '.join(detached)} first")
        try:
            self._power_off(vm)
            self.session.wait(vm.Destroy_Task)
        except VsphereError as error:
            if vsphere_errors.is_missing(error.fault):
                raise VMNotFound(f"VM {vm_cid} not found") from error
            raise

    def has_vm(self, vm_cid: str) -> bool:
        return self.inventory.machine(vm_cid) is not None

    def reboot_vm(self, vm_cid: str) -> None:
        """A hard reset (ResetVM_Task): RebootGuest needs VMware Tools in the guest, which a
        stemcell need not run (and vcsim does not serve); a powered-off VM is powered on."""
        vm = self.inventory.vm(vm_cid)
        if self.session.call(lambda: vm.runtime.powerState) == vim.VirtualMachinePowerState.poweredOn:
            self.session.wait(vm.ResetVM_Task)
        else:
            self.session.wait(vm.PowerOnVM_Task)

    def set_vm_metadata(self, vm_cid: str, metadata: dict[str, str]) -> None:
        """Custom attributes of the VM, one per key (defined on first use), as BOSH's vSphere
        CPI keeps them; the VM keeps its name ``vm-<uuid>``."""
        vm = self.inventory.vm(vm_cid)
        manager = self.content.customFieldsManager
        defined = {f.name for f in self.session.call(lambda: manager.field) or []
                   if f.managedObjectType in (None, vim.VirtualMachine)}
        for key, value in sorted(metadata.items()):
            if key not in defined:
                try:
                    self.session.call(lambda k=key: manager.AddCustomFieldDef(
                        name=k, moType=vim.VirtualMachine))
                except VsphereError as error:
                    if not isinstance(error.fault, vim.fault.DuplicateName):  # defined meanwhile
                        raise
            self.session.call(lambda k=key, v=value: vm.setCustomValue(key=k, value=str(v)))

    def calculate_vm_cloud_properties(self, requirements: dict[str, Any]) -> dict[str, Any]:
        """vSphere takes the numbers as they are: no instance types to round up to."""
        method = "calculate_vm_cloud_properties"
        return {"cpu": positive_int(requirements, "cpu", method, "requirements."),
                "ram": positive_int(requirements, "ram", method, "requirements."),
                "disk": positive_int(requirements, "ephemeral_disk_size", method, "requirements.")}

    # --- disks (vsphere_disks) -----------------------------------------------------------

    def create_disk(self, size_mb: int, cloud_properties: dict[str, Any],
                    vm_cid: str | None) -> str:
        return self.disks.create(size_mb, cloud_properties, self.inventory.vm(vm_cid) if vm_cid else None)

    def delete_disk(self, disk_cid: str) -> None:
        self.disks.delete(disk_cid)

    def has_disk(self, disk_cid: str) -> bool:
        return self.disks.exists(disk_cid)

    def attach_disk(self, vm_cid: str, disk_cid: str) -> dict[str, str]:
        return self.disks.attach(self.inventory.vm(vm_cid), vm_cid, disk_cid)

    def detach_disk(self, vm_cid: str, disk_cid: str) -> None:
        self.disks.detach(self.inventory.vm(vm_cid), vm_cid, disk_cid)

    def get_disks(self, vm_cid: str) -> list[str]:
        return self.disks.of_vm(self.inventory.vm(vm_cid))

    def resize_disk(self, disk_cid: str, new_size_mb: int) -> None:
        self.disks.resize(disk_cid, new_size_mb)

    def snapshot_disk(self, disk_cid: str, metadata: dict[str, str]) -> str:
        raise NotImplementedFailure(f"vsphere provider: snapshot_disk is not available: {SNAPSHOT_WHY}")

    def delete_snapshot(self, snapshot_cid: str) -> None:
        raise NotImplementedFailure(f"vsphere provider: delete_snapshot is not available: {SNAPSHOT_WHY}")

    def set_disk_metadata(self, disk_cid: str, metadata: dict[str, str]) -> None:
        raise NotImplementedFailure("vsphere provider: set_disk_metadata is not available: a "
                                    "persistent disk is a VMDK file, which holds no tags or "
                                    "custom attributes")


PROVIDER = VsphereProvider
