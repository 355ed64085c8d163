"""The OpenStack provider's cloud properties beyond the lifecycle: flavors chosen from vm_resources,
config drive, several NICs, security groups by id or name, disk locality across zones. Through the
real ``bosh-py-cpi-libcloud`` executable against the OpenStack emulator on 127.0.0.1; what Nova and
Neutron recorded is read back through their own APIs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

from tests.cpi_libcloud import openstack_support
from tests.cpi_libcloud.cloud_config_checks import parsed_cloud_config
from tests.cpi_libcloud.openstack_support import assert_nothing_left, image_id, net_id, network, served, write_config
from tests.cpi_libcloud.support import Cpi
from tests.iaas.openstack_fake import OpenStackFake

# the emulator with a second zone, more flavors, networks and groups (fixtures)
rich_fake, rich_driver, rich_cpi = (openstack_support.rich_fake, openstack_support.rich_driver,
                                    openstack_support.rich_cpi)
SMALL = {"flavor": "m1.small"}


def interfaces(driver: OpenStack_2_NodeDriver, vm_cid: str) -> list[dict[str, Any]]:
    """The server's NICs in the order Nova attached them."""
    return driver.connection.request(f"/servers/{vm_cid}/os-interface").object[  # type: ignore[no-any-return]
        "interfaceAttachments"]


# --- calculate_vm_cloud_properties ---------------------------------------------------------------


def test_vm_resources_become_the_smallest_flavor_that_fits(rich_cpi: Cpi, rich_driver: OpenStack_2_NodeDriver) -> None:
    def flavor_for(cpu: int, ram: int, disk: int) -> Any:
        return rich_cpi.result("calculate_vm_cloud_properties", {"cpu": cpu, "ram": ram, "ephemeral_disk_size": disk})

    assert flavor_for(1, 512, 0) == {"flavor": "m1.small"}  # m1.tiny's 1 GiB root cannot hold the stemcell
    assert flavor_for(1, 1024, 10 * 1024) == {"flavor": "m1.small"}  # no zone: the cloud-config's AZ stays
    assert flavor_for(1, 2048, 30 * 1024) == {"flavor": "e1.small"}  # 30 GiB only fits its ephemeral disk
    assert flavor_for(2, 2048, 1024) == {"flavor": "m1.medium"}
    assert flavor_for(3, 1024, 1024) == {"flavor": "m1.large"}
    none = rich_cpi.error("calculate_vm_cloud_properties", {"cpu": 64, "ram": 1024, "ephemeral_disk_size": 1024})
    assert none["type"] == "CloudError" and "no flavor has 64 vCPUs" in none["message"]
    assert "retired.big" in none["message"]  # listed, but disabled flavors are never chosen
    vm_cid, _ = rich_cpi.result("create_vm", "agent-1", image_id(rich_driver), flavor_for(2, 4096, 2048),
                                network(rich_driver), [], {})
    assert served(rich_driver, vm_cid)["flavor"]["id"] == "3"  # the answer is a usable vm_type


def test_bad_vm_resources_name_the_field(rich_cpi: Cpi) -> None:
    for resources, field in (({"cpu": "two", "ram": 1024, "ephemeral_disk_size": 0}, "vm_resources.cpu"),
                             ({"cpu": 1, "ephemeral_disk_size": 0}, "vm_resources.ram"),
                             ({"cpu": 1, "ram": 1024, "ephemeral_disk_size": -1}, "vm_resources.ephemeral_disk_size")):
        error = rich_cpi.error("calculate_vm_cloud_properties", resources)
        assert error["type"] == "InvalidCall" and field in error["message"], resources


# --- config drive --------------------------------------------------------------------------------


def test_config_drive_from_cloud_properties_or_the_cpi_config(
        rich_cpi: Cpi, rich_fake: OpenStackFake, rich_driver: OpenStack_2_NodeDriver, tmp_path: Path) -> None:
    image, net = image_id(rich_driver), network(rich_driver)
    with_drive, _ = rich_cpi.result("create_vm", "a-1", image, {**SMALL, "config_drive": True}, net, [], {})
    without, _ = rich_cpi.result("create_vm", "a-2", image, SMALL, net, [], {})
    assert served(rich_driver, with_drive)["config_drive"] == "True"
    assert served(rich_driver, without)["config_drive"] == ""
    by_config = Cpi(write_config(tmp_path / "drive.json", rich_fake, config_drive="cdrom"))
    defaulted, _ = by_config.result("create_vm", "a-3", image, SMALL, net, [], {})
    refused, _ = by_config.result("create_vm", "a-4", image, {**SMALL, "config_drive": False}, net, [], {})
    assert served(rich_driver, defaulted)["config_drive"] == "True"
    assert served(rich_driver, refused)["config_drive"] == ""
    # the drive carries the user data: the #cloud-config, its disks as this flavor has them
    drive_data = base64.b64decode(served(rich_driver, defaulted)["OS-EXT-SRV-ATTR:user_data"]).decode()
    assert parsed_cloud_config(drive_data)["settings"]["disks"] == {"system": "/dev/vda", "persistent": {}}
    ephemeral, _ = by_config.result("create_vm", "a-5", image, {"flavor": "e1.small"}, net, [], {})
    ephemeral_data = base64.b64decode(served(rich_driver, ephemeral)["OS-EXT-SRV-ATTR:user_data"]).decode()
    assert parsed_cloud_config(ephemeral_data)["settings"]["disks"] == \
        {"system": "/dev/vda", "ephemeral": "/dev/vdb", "persistent": {}}  # e1.small has an ephemeral disk


def test_a_bad_config_drive_value_is_refused_before_any_server(rich_cpi: Cpi,
                                                               rich_driver: OpenStack_2_NodeDriver) -> None:
    error = rich_cpi.error("create_vm", "a-1", image_id(rich_driver), {**SMALL, "config_drive": "yes please"},
                           network(rich_driver), [], {})
    assert error["type"] == "InvalidCall" and "cloud_properties.config_drive" in error["message"]
    assert_nothing_left(rich_driver)


# --- several NICs --------------------------------------------------------------------------------


def test_one_nic_per_network_default_first_then_by_name(rich_cpi: Cpi, rich_driver: OpenStack_2_NodeDriver) -> None:
    private, storage = net_id(rich_driver), net_id(rich_driver, "storage")
    networks = {  # given in an order that is neither the default-first nor the by-name one
        "zeta": {"type": "manual", "ip": "10.1.0.20", "netmask": "255.255.255.0",
                 "cloud_properties": {"net_id": storage}},
        "default": {"type": "manual", "ip": "10.0.0.30", "netmask": "255.255.255.0", "gateway": "10.0.0.1",
                    "default": ["dns", "gateway"], "cloud_properties": {"net_id": private}},
        "alpha": {"type": "dynamic", "cloud_properties": {"net_id": private}},
    }
    vm_cid, assigned = rich_cpi.result("create_vm", "agent-1", image_id(rich_driver), SMALL, networks, [], {})
    nics = interfaces(rich_driver, vm_cid)
    assert [nic["net_id"] for nic in nics] == [private, private, storage]  # default, alpha, zeta
    assert nics[0]["fixed_ips"][0]["ip_address"] == "10.0.0.30"
    assert nics[2]["fixed_ips"][0]["ip_address"] == "10.1.0.20"
    dynamic = nics[1]["fixed_ips"][0]["ip_address"]
    assert dynamic.startswith("10.0.0.") and dynamic != "10.0.0.30"
    assert {name: net["ip"] for name, net in assigned.items()} == {
        "default": "10.0.0.30", "alpha": dynamic, "zeta": "10.1.0.20"}
    ports = rich_driver.ex_list_ports()
    assert sorted(p.extra["fixed_ips"][0]["ip_address"] for p in ports) == sorted(["10.0.0.30", dynamic, "10.1.0.20"])
    assert {p.extra["device_id"] for p in ports} == {vm_cid}

    rich_cpi.result("delete_vm", vm_cid)
    assert_nothing_left(rich_driver)


def test_several_networks_each_need_their_own_net_id(rich_cpi: Cpi, rich_driver: OpenStack_2_NodeDriver) -> None:
    networks = {"default": network(rich_driver)["default"], "other": {"type": "dynamic", "cloud_properties": {}}}
    error = rich_cpi.error("create_vm", "agent-1", image_id(rich_driver), {**SMALL, "net_id": net_id(rich_driver)},
                           networks, [], {})
    assert error["type"] == "InvalidCall" and "network 'other' needs cloud_properties.net_id" in error["message"]
    vip = {**network(rich_driver), "public": {"type": "vip", "ip": "203.0.113.7"}}
    refused = rich_cpi.error("create_vm", "agent-1", image_id(rich_driver), SMALL, vip, [], {})
    assert refused["type"] == "InvalidCall" and "'public' is a vip network" in refused["message"]
    assert_nothing_left(rich_driver)


# --- security groups -----------------------------------------------------------------------------


def test_security_groups_by_id_or_name(rich_cpi: Cpi, rich_driver: OpenStack_2_NodeDriver) -> None:
    groups = {g.name: g.id for g in rich_driver.ex_list_security_groups()}
    vm_cid, _ = rich_cpi.result("create_vm", "agent-1", image_id(rich_driver),
                                {**SMALL, "security_groups": [groups["bosh"], "default"]}, network(rich_driver), [], {})
    assert sorted(g["name"] for g in served(rich_driver, vm_cid)["security_groups"]) == ["bosh", "default"]
    [port] = rich_driver.ex_list_ports()
    assert sorted(port.extra["security_groups"]) == sorted([groups["bosh"], groups["default"]])


def test_an_unknown_or_ambiguous_security_group_fails_naming_it(rich_cpi: Cpi,
                                                                rich_driver: OpenStack_2_NodeDriver) -> None:
    image, net = image_id(rich_driver), network(rich_driver)
    unknown = rich_cpi.error("create_vm", "agent-1", image, {**SMALL, "security_groups": ["bosh", "no-such-group"]},
                             net, [], {})
    assert unknown["type"] == "VMCreationFailed" and "'no-such-group' does not exist" in unknown["message"]
    rich_driver.ex_create_security_group("bosh", "a second group with the same name")
    twice = rich_cpi.error("create_vm", "agent-1", image, {**SMALL, "security_groups": ["bosh"]}, net, [], {})
    assert twice["type"] == "VMCreationFailed" and "matches 2 groups" in twice["message"]
    assert "name it by id" in twice["message"]
    assert_nothing_left(rich_driver)


# --- disk locality -------------------------------------------------------------------------------


def test_a_vm_with_an_existing_disk_lands_in_the_disks_zone(rich_cpi: Cpi, rich_driver: OpenStack_2_NodeDriver) -> None:
    disk_cid = rich_cpi.result("create_disk", 1024, {"availability_zone": "az2"}, None)
    vm_cid, _ = rich_cpi.result("create_vm", "agent-1", image_id(rich_driver), SMALL, network(rich_driver),
                                [disk_cid], {})
    assert served(rich_driver, vm_cid)["OS-EXT-AZ:availability_zone"] == "az2"  # not the default "nova"
    assert rich_cpi.result("attach_disk", vm_cid, disk_cid) == "/dev/vdb"
    second = rich_cpi.result("create_disk", 1024, {}, vm_cid)  # a new disk follows its VM
    assert rich_driver.ex_get_volume(second).extra["location"] == "az2"


def test_a_zone_that_contradicts_the_disk_fails_before_any_server(rich_cpi: Cpi,
                                                                  rich_driver: OpenStack_2_NodeDriver) -> None:
    disk_cid = rich_cpi.result("create_disk", 1024, {"availability_zone": "az2"}, None)
    error = rich_cpi.error("create_vm", "agent-1", image_id(rich_driver), {**SMALL, "availability_zone": "nova"},
                           network(rich_driver), [disk_cid], {})
    assert error["type"] == "VMCreationFailed"
    assert "'nova'" in error["message"] and disk_cid in error["message"] and "az2" in error["message"]
    assert rich_driver.list_nodes() == [] and rich_driver.ex_list_ports() == []
