"""What the vSphere tests hold: vcsim (tests/iaas/vcsim) started fresh for each test, what an
operator creates first (a stemcell template), the CPI config that points at it, and vcsim's own
view of its inventory through pyvmomi, independent of the CPI under test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from tests.cpi_libcloud.support import Cpi
from tests.iaas.vcsim import Vcsim

DATACENTER = "DC0"
CLUSTER = "DC0_C0"
DATASTORE = "LocalDS_0"
PORT_GROUP = "DC0_DVPG0"
STANDARD_NETWORK = "VM Network"
SOURCE_VM = "DC0_C0_RP0_VM0"
TEMPLATE = "bosh-stemcell-light"


@dataclass
class VsphereWorld:
    """vcsim's inventory seen through pyvmomi, with the template the operator uploaded."""

    vcsim: Vcsim
    si: Any
    template_uuid: str

    @property
    def content(self) -> Any:
        return self.si.RetrieveContent()

    def objects(self, kind: type) -> list[Any]:
        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [kind], True)
        try:
            return list(view.view)
        finally:
            view.Destroy()

    def vm(self, uuid: str) -> Any:
        return self.content.searchIndex.FindByUuid(None, uuid, True, True)

    def bosh_vm_names(self) -> list[str]:
        """Every VM the CPI could have made (its names start with vm-), templates aside."""
        return sorted(vm.name for vm in self.objects(vim.VirtualMachine)
                      if vm.name.startswith("vm-"))

    def disk_files(self) -> list[str]:
        """The VMDKs in the datastore's bosh_disks folder, as the datastore browser lists them."""
        datastore = next(ds for ds in self.objects(vim.Datastore) if ds.name == DATASTORE)
        task = datastore.browser.SearchDatastore_Task(
            datastorePath=f"[{DATASTORE}] bosh_disks",
            searchSpec=vim.host.DatastoreBrowser.SearchSpec(matchPattern=["*.vmdk"]))
        try:
            WaitForTask(task)
        except vim.fault.FileNotFound:
            return []
        return sorted(f.path for f in task.info.result.file if not f.path.endswith("-flat.vmdk"))

    def vm_directories(self) -> list[str]:
        """Folders of the datastore named like the CPI's VMs: what a destroyed VM must not leave."""
        datastore = next(ds for ds in self.objects(vim.Datastore) if ds.name == DATASTORE)
        root = Path(datastore.info.url)
        return sorted(p.name for p in root.iterdir() if p.name.startswith("vm-"))

    def make_unattached_port_group(self, name: str) -> None:
        """A port group on a distributed switch no host is a member of: vCenter accepts a NIC on
        it only from a VM whose host is a member, so a clone onto it fails when reconfigured."""
        datacenter = next(dc for dc in self.objects(vim.Datacenter) if dc.name == DATACENTER)
        spec = vim.DistributedVirtualSwitch.CreateSpec(
            configSpec=vim.DistributedVirtualSwitch.ConfigSpec(name=f"{name}-switch"))
        WaitForTask(datacenter.networkFolder.CreateDVS_Task(spec))
        switch = next(s for s in self.objects(vim.DistributedVirtualSwitch)
                      if s.name == f"{name}-switch")
        WaitForTask(switch.AddDVPortgroup_Task([vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
            name=name, type="earlyBinding", numPorts=8)]))


def make_template(si: Any) -> str:
    """The operator's stemcell template: a powered-off clone of vcsim's VM, marked a template."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    source = next(vm for vm in view.view if vm.name == SOURCE_VM)
    view.Destroy()
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=source.resourcePool),
                            powerOn=False, template=True)
    task = source.Clone(folder=source.parent, name=TEMPLATE, spec=spec)
    WaitForTask(task)
    return str(task.info.result.config.instanceUuid)


def write_config(path: Path, vcsim: Vcsim, **overrides: Any) -> Path:
    section: dict[str, Any] = {"host": vcsim.host, "port": vcsim.port, "user": vcsim.username,
                               "password": vcsim.password, "datacenter": DATACENTER,
                               "ca_cert": vcsim.ca_cert_pem, "default_cluster": CLUSTER,
                               "default_datastore": DATASTORE}
    section.update(overrides)
    section = {key: value for key, value in section.items() if value is not None}
    path.write_text(json.dumps({"provider": "vsphere", "vsphere": section,
                                "agent": {"mbus": "nats://127.0.0.1:4222"}}))
    path.chmod(0o600)
    return path


@pytest.fixture
def vcsim() -> Iterator[Vcsim]:
    """A fresh vcsim on 127.0.0.1 for each test, stopped (by PID) and its files removed after."""
    server = Vcsim.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def vsphere(vcsim: Vcsim) -> Iterator[VsphereWorld]:
    si = vcsim.connect()
    try:
        yield VsphereWorld(vcsim, si, make_template(si))
    finally:
        Disconnect(si)


@pytest.fixture
def vsphere_cpi(tmp_path: Path, vsphere: VsphereWorld) -> Cpi:
    return Cpi(write_config(tmp_path / "cpi.json", vsphere.vcsim))
