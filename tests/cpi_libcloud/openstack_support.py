"""What the OpenStack provider's tests share: the CPI config for an emulator, the arguments a
create_vm takes there, the emulator's own view of what is left, and an emulator seeded with more
than the default (a second availability zone, more flavors, networks and security groups)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

from tests.cpi_libcloud.support import Cpi
from tests.iaas.conftest import openstack_driver
from tests.iaas.openstack_fake import Cloud, OpenStackFake

PROPS = {"flavor": "m1.small", "availability_zone": "nova"}


def write_config(path: Path, fake: OpenStackFake, **overrides: Any) -> Path:
    credentials = fake.cloud.credentials
    section = {"auth_url": fake.auth_url, "username": credentials.username,
               "password": credentials.password, "project": credentials.project,
               "domain": credentials.domain, "region": credentials.region,
               "default_key_name": "bosh", "default_security_groups": ["default"]}
    section.update(overrides)
    path.write_text(json.dumps({"provider": "openstack", "openstack": section,
                                "agent": {"mbus": "nats://127.0.0.1:4222"}}))
    path.chmod(0o600)
    return path


def image_id(driver: OpenStack_2_NodeDriver) -> str:
    return str(driver.list_images()[0].id)


def net_id(driver: OpenStack_2_NodeDriver, name: str = "private") -> str:
    return str(next(n.id for n in driver.ex_list_networks() if n.name == name))


def network(driver: OpenStack_2_NodeDriver, ip: str | None = None, net_id: str | None = None) -> dict:
    net_id = net_id or next(n.id for n in driver.ex_list_networks() if n.name == "private")
    spec: dict[str, Any] = {"type": "manual" if ip else "dynamic", "default": ["dns", "gateway"],
                            "cloud_properties": {"net_id": net_id}}
    if ip:
        spec.update(ip=ip, netmask="255.255.255.0", gateway="10.0.0.1")
    return {"default": spec}


def served(driver: OpenStack_2_NodeDriver, vm_cid: str) -> dict[str, Any]:
    """Nova's own view of a server, as the API shows it."""
    return driver.connection.request(f"/servers/{vm_cid}").object["server"]  # type: ignore[no-any-return]


def assert_nothing_left(driver: OpenStack_2_NodeDriver) -> None:
    assert driver.list_nodes() == []
    assert driver.ex_list_ports() == []
    assert driver.list_volumes() == []


def rich_cloud() -> Cloud:
    """The default seed plus what a real project often has: a second zone, flavors with an
    ephemeral disk or disabled, a second network, and security groups to name by id."""
    cloud = Cloud(availability_zones=("nova", "az2"))
    cloud.seed()
    cloud.add_flavor("m1.tiny", vcpus=1, ram=512, disk=1, flavor_id="1")
    cloud.add_flavor("m1.large", vcpus=4, ram=8192, disk=80, flavor_id="4")
    cloud.add_flavor("e1.small", vcpus=1, ram=2048, disk=5, flavor_id="e1")["OS-FLV-EXT-DATA:ephemeral"] = 50
    cloud.add_flavor("retired.big", vcpus=64, ram=262144, disk=500, flavor_id="9")["OS-FLV-DISABLED:disabled"] = True
    cloud.add_network("storage", "10.1.0.0/24")
    cloud.add_security_group("bosh", "bosh VMs")
    return cloud


@pytest.fixture
def rich_fake() -> Iterator[OpenStackFake]:
    fake = OpenStackFake(rich_cloud()).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def driver(openstack_cloud: OpenStackFake) -> OpenStack_2_NodeDriver:
    """The tests' own view of the default emulator: libcloud straight at it."""
    return openstack_driver(openstack_cloud)


@pytest.fixture
def cpi(tmp_path: Path, openstack_cloud: OpenStackFake) -> Cpi:
    """The real executable configured for the default emulator (shadows the EC2 ``cpi``)."""
    return Cpi(write_config(tmp_path / "cpi.json", openstack_cloud))


@pytest.fixture
def rich_driver(rich_fake: OpenStackFake) -> OpenStack_2_NodeDriver:
    """The tests' own view of the cloud: libcloud straight at the emulator."""
    return openstack_driver(rich_fake)


@pytest.fixture
def rich_cpi(tmp_path: Path, rich_fake: OpenStackFake) -> Cpi:
    return Cpi(write_config(tmp_path / "cpi.json", rich_fake))
