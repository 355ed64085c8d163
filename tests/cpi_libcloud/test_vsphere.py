"""BOSH's CPI lifecycle specs and failure cases for the vSphere provider, through the real
``bosh-py-cpi-libcloud`` executable against govmomi's vcsim on 127.0.0.1 (tests/iaas/vcsim);
what exists is read back from vcsim's own inventory through pyvmomi, not through the CPI."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyVmomi import vim

from bosh_py.ssh.keys import generate_keypair
from cpi.libcloud.providers import vsphere_devices
from tests.cpi_libcloud.cloud_config_checks import (
    assert_installs_keys,
    parsed_cloud_config,
)
from tests.cpi_libcloud.support import Cpi
from tests.cpi_libcloud.vsphere_support import (
    CLUSTER,
    DATASTORE,
    PORT_GROUP,
    STANDARD_NETWORK,
    TEMPLATE,
    VsphereWorld,
    write_config,
)
from tests.iaas.vcsim import Vcsim

PROPS = {"cpu": 2, "ram": 1024, "disk": 2048}


def network(name: str = PORT_GROUP, ip: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "manual" if ip else "dynamic", "default": ["dns", "gateway"],
                            "cloud_properties": {"name": name}}
    if ip:
        spec.update(ip=ip, netmask="255.255.255.0", gateway="10.0.0.1")
    return {"default": spec}


def extra_config(vm: Any) -> dict[str, str]:
    return {option.key: option.value for option in vm.config.extraConfig}


def user_data(vm: Any) -> dict[str, Any]:
    """guestinfo.userdata as cloud-init's VMware datasource reads it: base64, a #cloud-config."""
    options = extra_config(vm)
    assert options["guestinfo.userdata.encoding"] == "base64"
    return parsed_cloud_config(base64.b64decode(options["guestinfo.userdata"]).decode())


def metadata(vm: Any) -> dict[str, Any]:
    options = extra_config(vm)
    assert options["guestinfo.metadata.encoding"] == "base64"
    return yaml.safe_load(base64.b64decode(options["guestinfo.metadata"]))  # type: ignore[no-any-return]


def user_data_settings(vm: Any) -> dict[str, Any]:
    return user_data(vm)["settings"]  # type: ignore[no-any-return]


def devices_of(vm: Any, kind: type) -> list[Any]:
    return [d for d in vm.config.hardware.device if isinstance(d, kind)]


def assert_nothing_left(world: VsphereWorld) -> None:
    """No VM, VM folder or persistent disk made by the CPI, in vcsim's own listing."""
    assert world.bosh_vm_names() == []
    assert world.vm_directories() == []
    assert world.disk_files() == []


def test_vm_and_disk_lifecycle_with_a_static_ip(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    cpi, env = vsphere_cpi, {"bosh": {"group": "nats"}}
    vm_cid, networks = cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS,
                                  network(ip="10.0.0.50"), [], env)
    assert networks["default"]["ip"] == "10.0.0.50"
    vm = vsphere.vm(vm_cid)
    assert vm is not None and vm.name.startswith("vm-") and not vm.config.template
    assert (vm.config.hardware.numCPU, vm.config.hardware.memoryMB) == (2, 1024)
    assert vm.runtime.powerState == "poweredOn"
    assert vm.config.annotation == "bosh agent_id=agent-1"
    assert vm.resourcePool.parent.name == CLUSTER and [d.name for d in vm.datastore] == [DATASTORE]
    settings = user_data_settings(vm)
    assert settings["agent_id"] == "agent-1" and settings["env"] == env
    assert settings["networks"]["default"]["ip"] == "10.0.0.50"  # the static IP, as the VM reads it
    assert settings["mbus"] == "nats://127.0.0.1:4222"
    [nic] = devices_of(vm, vim.vm.device.VirtualEthernetCard)
    assert isinstance(nic, vim.vm.device.VirtualVmxnet3)
    assert nic.macAddress and settings["networks"]["default"]["mac"] == nic.macAddress
    assert metadata(vm) == {"instance-id": vm.name, "local-hostname": vm.name, "network": {
        "version": 2, "ethernets": {"nic0": {"match": {"macaddress": nic.macAddress}, "addresses": ["10.0.0.50/24"],
                                             "gateway4": "10.0.0.1"}}}}  # the static IP, for cloud-init
    [system] = [d for d in devices_of(vm, vim.vm.device.VirtualDisk) if d.capacityInKB != 2048 * 1024]
    [scratch] = [d for d in devices_of(vm, vim.vm.device.VirtualDisk) if d.capacityInKB == 2048 * 1024]
    assert settings["disks"] == {"system": {"id": str(system.unitNumber)},  # SCSI units, as attach_disk's hint
                                 "ephemeral": {"id": str(scratch.unitNumber)}, "persistent": {}}
    port_group = next(n for n in vm.network if n.name == PORT_GROUP)
    assert nic.backing.port.portgroupKey == port_group.key
    ephemeral = [d for d in devices_of(vm, vim.vm.device.VirtualDisk) if d.capacityInKB == 2048 * 1024]
    assert len(ephemeral) == 1 and ephemeral[0].backing.thinProvisioned
    assert cpi.result("has_vm", vm_cid) is True

    cpi.result("set_vm_metadata", vm_cid, {"deployment": "nats", "job": "nats", "index": "0"})
    fields = {f.key: f.name for f in vsphere.content.customFieldsManager.field}
    assert {fields[v.key]: v.value for v in vsphere.vm(vm_cid).customValue} == \
        {"deployment": "nats", "job": "nats", "index": "0"}
    booted = vsphere.vm(vm_cid).summary.runtime.bootTime
    cpi.result("reboot_vm", vm_cid)
    assert vsphere.vm(vm_cid).summary.runtime.bootTime > booted  # reset: booted again

    disk_cid = cpi.result("create_disk", 1500, {"type": "thin"}, vm_cid)
    location = vsphere_devices.parse_disk_cid(disk_cid)
    assert location is not None and location.datastore == DATASTORE  # the VM's datastore
    assert vsphere.disk_files() == [location.file_name]
    assert cpi.result("has_disk", disk_cid) is True

    hint = cpi.result("attach_disk", vm_cid, disk_cid)
    [attached] = [d for d in devices_of(vsphere.vm(vm_cid), vim.vm.device.VirtualDisk)
                  if d.backing.fileName == location.path]
    assert hint == {"id": str(attached.unitNumber)} and attached.backing.diskMode == "independent_persistent"
    assert attached.unitNumber not in (0, 1, 7)  # the system and ephemeral disks, the controller
    controller = next(d for d in vsphere.vm(vm_cid).config.hardware.device if d.key == attached.controllerKey)
    assert isinstance(controller, vim.vm.device.VirtualSCSIController)
    assert cpi.result("attach_disk", vm_cid, disk_cid) == hint  # again: same hint, not twice
    assert cpi.result("get_disks", vm_cid) == [disk_cid]
    busy = cpi.error("delete_disk", disk_cid)
    assert busy["type"] == "CloudError" and vsphere.vm(vm_cid).name in busy["message"]

    cpi.result("detach_disk", vm_cid, disk_cid)
    assert not [d for d in devices_of(vsphere.vm(vm_cid), vim.vm.device.VirtualDisk)
                if d.backing.fileName == location.path]
    assert vsphere.disk_files() == [location.file_name]  # detached, not deleted
    assert cpi.result("get_disks", vm_cid) == []
    for method, arguments in (("snapshot_disk", [disk_cid, {}]), ("delete_snapshot", ["snap-1"]),
                              ("set_disk_metadata", [disk_cid, {"a": "b"}])):
        error = cpi.error(method, *arguments)
        assert error["type"] == "NotImplemented" and f"vsphere provider: {method}" in error["message"]
    unknown = cpi.error("resize_disk", disk_cid, 4096)  # vcsim reports no capacity for a VMDK
    assert unknown["type"] == "CloudError" and "reports no capacity" in unknown["message"]
    assert "nothing was changed" in unknown["message"]

    cpi.result("delete_disk", disk_cid)
    assert cpi.result("has_disk", disk_cid) is False
    cpi.result("delete_vm", vm_cid)
    assert cpi.result("has_vm", vm_cid) is False
    assert_nothing_left(vsphere)


def test_create_vm_with_an_existing_disk_goes_to_its_datastore(tmp_path: Path, vsphere: VsphereWorld) -> None:
    """With no datastore named anywhere, the VM goes where its persistent disk is."""
    cpi = Cpi(write_config(tmp_path / "cpi.json", vsphere.vcsim, default_datastore=None))
    disk_cid = cpi.result("create_disk", 1024, {"datastore": DATASTORE}, None)
    no_disk = cpi.error("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], {})
    assert no_disk["type"] == "InvalidCall" and "cloud_properties.datastore" in no_disk["message"]
    vm_cid, _ = cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(),
                           [disk_cid], {})
    assert [d.name for d in vsphere.vm(vm_cid).datastore] == [DATASTORE]
    assert cpi.result("get_disks", vm_cid) == []  # the director attaches it afterwards
    cpi.result("attach_disk", vm_cid, disk_cid)
    assert cpi.result("get_disks", vm_cid) == [disk_cid]


def test_a_dynamic_network_on_a_standard_port_group(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    vm_cid, networks = vsphere_cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS,
                                          network(STANDARD_NETWORK), [], {})
    [nic] = devices_of(vsphere.vm(vm_cid), vim.vm.device.VirtualEthernetCard)
    assert nic.backing.deviceName == STANDARD_NETWORK
    assert networks["default"]["type"] == "dynamic" and "ip" not in networks["default"]
    vm = vsphere.vm(vm_cid)
    assert "network" not in metadata(vm)  # no static IP: the guest asks DHCP
    assert user_data_settings(vm)["networks"]["default"]["mac"] == nic.macAddress


def test_guestinfo_userdata_installs_the_pinned_host_key(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    """guestinfo.userdata is the #cloud-config EC2 and OpenStack get: cloud-init's VMware
    datasource makes the director's pinned key the VM's host key and its key root's."""
    host, director = generate_keypair("host"), generate_keypair("director")
    env = {"bosh": {"host_key": host.as_env(), "authorized_keys": [director.public_key]}}
    vm_cid, _ = vsphere_cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], env)
    document = user_data(vsphere.vm(vm_cid))
    assert_installs_keys(document, host.public_key, host.private_key, [director.public_key])
    assert document["settings"]["agent_id"] == "agent-1" and document["settings"]["env"] == env


def test_a_host_key_cloud_init_cannot_install_clones_nothing(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    env = {"bosh": {"host_key": {"private_key": "PRIVATE-KEY-TEXT", "public_key": "ssh-dss AAAA"}}}
    answer = vsphere_cpi.call("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], env)
    assert answer["error"]["type"] == "InvalidCall" and "env.bosh.host_key" in answer["error"]["message"]
    assert "PRIVATE-KEY-TEXT" not in json.dumps(answer)
    assert_nothing_left(vsphere)


def test_deleting_a_vm_keeps_its_attached_persistent_disk(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    """vSphere's Destroy deletes every disk a VM holds: the CPI detaches persistent ones first."""
    vm_cid, _ = vsphere_cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], {})
    disk_cid = vsphere_cpi.result("create_disk", 1024, {}, vm_cid)
    vsphere_cpi.result("attach_disk", vm_cid, disk_cid)
    response = vsphere_cpi.call("delete_vm", vm_cid)
    assert response["error"] is None and f"detached persistent disks {disk_cid} first" in response["log"]
    assert vsphere.bosh_vm_names() == [] and vsphere.vm_directories() == []
    assert vsphere_cpi.result("has_disk", disk_cid) is True
    location = vsphere_devices.parse_disk_cid(disk_cid)
    assert location is not None and vsphere.disk_files() == [location.file_name]


def test_a_disk_attached_to_one_vm_is_not_attached_to_another(vsphere_cpi: Cpi,
                                                              vsphere: VsphereWorld) -> None:
    first, _ = vsphere_cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], {})
    second, _ = vsphere_cpi.result("create_vm", "agent-2", vsphere.template_uuid, PROPS, network(), [], {})
    disk_cid = vsphere_cpi.result("create_disk", 1024, {}, first)
    vsphere_cpi.result("attach_disk", first, disk_cid)
    taken = vsphere_cpi.error("attach_disk", second, disk_cid)
    assert taken["type"] == "CloudError" and vsphere.vm(first).name in taken["message"]
    assert vsphere_cpi.result("get_disks", second) == []


@pytest.mark.parametrize(("change", "named"), [
    ("template", "stemcell template no-such-template not found"),
    ("network", "network 'no-such-network' is not in datacenter 'DC0'"),
    ("cluster", "cluster 'no-such-cluster' is not in datacenter 'DC0'"),
    ("datastore", "datastore 'no-such-datastore' is not in datacenter 'DC0'"),
])
def test_a_create_that_fails_leaves_nothing_and_says_why(vsphere_cpi: Cpi, vsphere: VsphereWorld,
                                                         change: str, named: str) -> None:
    template = "no-such-template" if change == "template" else vsphere.template_uuid
    props = dict(PROPS)
    if change in ("cluster", "datastore"):
        props[change] = f"no-such-{change}"
    nets = network("no-such-network" if change == "network" else PORT_GROUP)
    error = vsphere_cpi.error("create_vm", "agent-1", template, props, nets, [], {})
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is False
    assert named in error["message"]
    assert_nothing_left(vsphere)


def test_a_create_that_fails_after_the_clone_destroys_the_clone(vsphere_cpi: Cpi,
                                                                vsphere: VsphereWorld) -> None:
    """A port group on a switch the cluster's host is not a member of: the clone exists before
    vSphere refuses its NIC; the CPI destroys it and says so."""
    vsphere.make_unattached_port_group("pg-without-hosts")
    error = vsphere_cpi.error("create_vm", "agent-1", vsphere.template_uuid, PROPS,
                              network("pg-without-hosts"), [], {})
    assert error["type"] == "VMCreationFailed"
    assert "failed after it was cloned and was destroyed" in error["message"]
    assert "switchUuid" in error["message"]  # vSphere's own reason
    assert_nothing_left(vsphere)


def test_deleting_twice_says_not_found(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    cpi = vsphere_cpi
    vm_cid, _ = cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("delete_vm", vm_cid)
    cpi.result("delete_disk", disk_cid)
    assert cpi.error("delete_vm", vm_cid)["type"] == "VMNotFound"
    assert cpi.error("delete_disk", disk_cid)["type"] == "DiskNotFound"
    for method, arguments in (("reboot_vm", []), ("set_vm_metadata", [{"a": "b"}]),
                              ("attach_disk", [disk_cid]), ("detach_disk", [disk_cid]),
                              ("get_disks", []), ("create_disk", [])):
        if method == "create_disk":
            assert cpi.error("create_disk", 1024, {}, vm_cid)["type"] == "VMNotFound"
            continue
        assert cpi.error(method, vm_cid, *arguments)["type"] == "VMNotFound", method
    assert cpi.result("has_vm", "no-such-vm") is False
    for bad in ("no-such-disk", "disk-" + "0" * 32 + ".TG9jYWxEU18w", "disk-" + "0" * 32 + ".bm9wZQ"):
        assert cpi.result("has_disk", bad) is False, bad
        assert cpi.error("delete_disk", bad)["type"] == "DiskNotFound", bad


def test_a_template_is_not_a_vm(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    """The stemcell's template shares the VMs' UUID index: no VM verb may touch it."""
    assert vsphere_cpi.result("has_vm", vsphere.template_uuid) is False
    assert vsphere_cpi.error("delete_vm", vsphere.template_uuid)["type"] == "VMNotFound"
    assert vsphere_cpi.error("reboot_vm", vsphere.template_uuid)["type"] == "VMNotFound"
    assert vsphere.vm(vsphere.template_uuid).name == TEMPLATE


def test_detaching_a_disk_that_is_not_attached_does_not_fail(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    vm_cid, _ = vsphere_cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], {})
    disk_cid = vsphere_cpi.result("create_disk", 1024, {}, vm_cid)
    response = vsphere_cpi.call("detach_disk", vm_cid, disk_cid)
    assert response["error"] is None and "not attached" in response["log"]


@pytest.mark.parametrize("field", ["password", "user"])
def test_bad_credentials_are_a_clear_error_without_secrets(tmp_path: Path, vsphere: VsphereWorld,
                                                           field: str) -> None:
    wrong = "wrong-" + "x" * 24
    cpi = Cpi(write_config(tmp_path / "bad.json", vsphere.vcsim, **{field: wrong}))
    error = cpi.error("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [], {})
    assert error["type"] == "CloudError"
    assert "rejected the configured credentials (check vsphere.user / vsphere.password)" in error["message"]
    assert cpi.error("has_vm", "no-such-vm")["type"] == "CloudError"
    assert vsphere.bosh_vm_names() == []
    for _method, stdout, stderr in cpi.calls:
        assert vsphere.vcsim.password not in stdout and vsphere.vcsim.password not in stderr
        if field == "password":
            assert wrong not in stdout and wrong not in stderr


def test_no_secret_in_any_output(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    """Every call of a lifecycle, failures included: the password never shows."""
    cpi, password = vsphere_cpi, vsphere.vcsim.password
    vm_cid, _ = cpi.result("create_vm", "agent-1", vsphere.template_uuid, PROPS, network(), [],
                           {"bosh": {"password": "env-secret-password"}})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("attach_disk", vm_cid, disk_cid)
    cpi.error("delete_disk", disk_cid)
    cpi.error("create_vm", "agent-2", "no-such-template", PROPS, network(), [], {})
    cpi.call("no_such_method")
    echoed = cpi.error("delete_vm", password)  # an id that is the password is redacted
    assert echoed["type"] == "VMNotFound" and "<redacted>" in echoed["message"]
    assert len(cpi.calls) == 7
    for _method, stdout, stderr in cpi.calls:
        for secret in (password, "env-secret-password"):
            assert secret not in stdout and secret not in stderr


def test_tls_is_verified_unless_insecure(tmp_path: Path, vsphere: VsphereWorld) -> None:
    """Without ca_cert the system's CAs decide (pyvmomi alone would skip verification for
    127.0.0.1); insecure: true is the only way around them."""
    untrusted = Cpi(write_config(tmp_path / "system-cas.json", vsphere.vcsim, ca_cert=None))
    error = untrusted.error("has_vm", "no-such-vm")
    assert error["type"] == "CloudError" and "TLS certificate is not trusted" in error["message"]
    assert "vsphere.ca_cert" in error["message"]
    insecure = Cpi(write_config(tmp_path / "insecure.json", vsphere.vcsim, ca_cert=None, insecure=True))
    assert insecure.result("has_vm", "no-such-vm") is False
    both = Cpi(write_config(tmp_path / "both.json", vsphere.vcsim, insecure=True))
    assert both.error("has_vm", "no-such-vm")["type"] == "InvalidCall"


def test_an_unreachable_vcenter_is_retryable(tmp_path: Path, vcsim: Vcsim) -> None:
    with socket.socket() as probe:  # a port on 127.0.0.1 nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = Cpi(write_config(tmp_path / "cpi.json", vcsim, port=port)).error("has_vm", "vm-1")
    assert error["type"] == "CloudError" and error["ok_to_retry"] is True
    assert f"cannot reach vSphere at 127.0.0.1:{port}" in error["message"]


@pytest.mark.parametrize(("key", "value"), [
    ("host", None), ("user", None), ("password", None), ("datacenter", None),
    ("datacenter", "NO-SUCH-DC"), ("port", "443"), ("insecure", "yes"), ("ca_cert", "not a PEM"),
])
def test_bad_config_is_named(tmp_path: Path, vcsim: Vcsim, key: str, value: Any) -> None:
    path = write_config(tmp_path / "cpi.json", vcsim)
    config = json.loads(path.read_text())
    if value is None:
        del config["vsphere"][key]
    else:
        config["vsphere"][key] = value
    path.write_text(json.dumps(config))
    error = Cpi(path).error("has_vm", "vm-1")
    assert error["type"] == "InvalidCall" and f"vsphere.{key}" in error["message"]


def test_cloud_properties_are_checked_before_anything_is_made(vsphere_cpi: Cpi,
                                                              vsphere: VsphereWorld) -> None:
    for props, named in (({"ram": 1024, "disk": 2048}, "cloud_properties.cpu"),
                         ({"cpu": 1, "ram": "1G", "disk": 2048}, "cloud_properties.ram"),
                         ({**PROPS, "datacenter": "DC9"}, "cloud_properties.datacenter")):
        error = vsphere_cpi.error("create_vm", "agent-1", vsphere.template_uuid, props, network(), [], {})
        assert error["type"] == "InvalidCall" and named in error["message"]
    no_net = {"default": {"type": "dynamic", "cloud_properties": {}}}
    error = vsphere_cpi.error("create_vm", "agent-1", vsphere.template_uuid, PROPS, no_net, [], {})
    assert error["type"] == "InvalidCall" and "cloud_properties.name" in error["message"]
    bad_type = vsphere_cpi.error("create_disk", 1024, {"type": "sparse"}, None)
    assert bad_type["type"] == "InvalidCall" and "cloud_properties.type" in bad_type["message"]
    assert_nothing_left(vsphere)


def test_light_stemcell_names_an_existing_template(vsphere_cpi: Cpi, vsphere: VsphereWorld) -> None:
    uuid = vsphere.template_uuid
    assert vsphere_cpi.result("create_stemcell", "/unused.tgz", {"template": TEMPLATE}) == uuid
    assert vsphere_cpi.result("create_stemcell", "/unused.tgz", {"template": uuid}) == uuid
    for missing in ("no-such-template", "DC0_C0_RP0_VM0"):  # the second is a VM, not a template
        error = vsphere_cpi.error("create_stemcell", "/unused.tgz", {"template": missing})
        assert error["type"] == "CloudError" and missing in error["message"]
    assert vsphere_cpi.result("delete_stemcell", uuid) is None
    assert vsphere.vm(uuid).config.template is True


def test_calculate_vm_cloud_properties_maps_directly(vsphere_cpi: Cpi) -> None:
    assert vsphere_cpi.result("calculate_vm_cloud_properties",
                              {"cpu": 2, "ram": 4096, "ephemeral_disk_size": 10240}) == \
        {"cpu": 2, "ram": 4096, "disk": 10240}
    error = vsphere_cpi.error("calculate_vm_cloud_properties", {"cpu": 2, "ram": 4096})
    assert error["type"] == "InvalidCall" and "requirements.ephemeral_disk_size" in error["message"]


def test_info_names_the_light_stemcell_format(vsphere_cpi: Cpi) -> None:
    assert vsphere_cpi.result("info") == {"stemcell_formats": ["vsphere-light"], "api_version": 2}


@pytest.mark.parametrize("datastore", ["LocalDS_0", "datastore with spaces.and.dots", "ds/ü"])
def test_a_disk_cid_names_its_file(datastore: str) -> None:
    location = vsphere_devices.new_disk_location(datastore)
    assert vsphere_devices.parse_disk_cid(location.cid) == location
    assert vsphere_devices.disk_location_of_file(location.path) == location
    assert vsphere_devices.parse_disk_cid(location.cid + "x=") is None
    assert vsphere_devices.parse_disk_cid("vol-123") is None


@pytest.mark.parametrize(("fault", "retry", "text"), [
    (vim.fault.InsufficientResourcesFault(msg="no room"), True, "InsufficientResourcesFault: no room"),
    (vim.fault.NoDiskSpace(msg="", datastore="ds-1"), True, "NoDiskSpace (datastore=ds-1)"),
    (vim.fault.InvalidDeviceSpec(msg="*types.InvalidDeviceSpec", deviceIndex=0), False,
     "InvalidDeviceSpec"),
])
def test_a_fault_reads_as_its_name_and_fields(fault: Any, retry: bool, text: str) -> None:
    """vcsim cannot run out of capacity; the mapping that would say so is checked here."""
    from cpi.libcloud.providers.vsphere_session import VsphereError, is_retryable

    error = VsphereError(fault)
    assert str(error) == f"vSphere: {text}" and is_retryable(error) is retry


def test_a_busy_object_is_retried_with_backoff() -> None:
    """vCenter answers TaskInProgress while another task holds the VM: tried again, backing off."""
    from cpi.libcloud.providers.common import call_api
    from cpi.libcloud.providers.vsphere_session import VSPHERE_ERRORS

    answers: list[Any] = [vim.fault.TaskInProgress(msg="busy"), vim.fault.TaskInProgress(msg="busy"), "done"]
    slept: list[float] = []

    def action() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    log: list[str] = []
    assert call_api(action, VSPHERE_ERRORS, "vSphere at test", log.append, slept.append) == "done"
    assert slept == [0.5, 1.0] and len(log) == 2
