import pytest

from bosh_py.director.ip_allocation import IpAllocationError, IpAllocator, Subnet

SUBNET = {"range": "10.244.0.0/29", "gateway": "10.244.0.1", "reserved": ["10.244.0.2"],
          "static": ["10.244.0.5 - 10.244.0.6"]}


def test_dynamic_ips_skip_gateway_reserved_static_and_used():
    subnet = Subnet.from_cloud_config("default", SUBNET)
    allocator = IpAllocator()
    allocator.claim(subnet, "10.244.0.3", "here")
    assert allocator.next_dynamic(subnet, "here") == "10.244.0.4"
    with pytest.raises(IpAllocationError, match="no free IP"):
        allocator.next_dynamic(subnet, "instance_groups/nats/networks/0")
    allocator.release("10.244.0.3")
    assert allocator.next_dynamic(subnet, "here") == "10.244.0.3"


def test_static_ip_outside_subnet_names_the_path():
    subnet = Subnet.from_cloud_config("default", SUBNET)
    with pytest.raises(IpAllocationError, match=r"instance_groups/nats/networks/0/static_ips/0: IP 10.9.9.9 is outside"):
        IpAllocator().claim(subnet, "10.9.9.9", "instance_groups/nats/networks/0/static_ips/0")


def test_settings_carry_netmask_and_gateway():
    subnet = Subnet.from_cloud_config("default", SUBNET)
    settings = subnet.settings(IpAllocator().next_dynamic(subnet, "x"))
    assert settings["netmask"] == "255.255.255.248" and settings["gateway"] == "10.244.0.1"
    assert settings["default"] == ["dns", "gateway"]


def test_an_ip_in_use_elsewhere_cannot_be_claimed():
    subnet = Subnet.from_cloud_config("default", SUBNET)
    allocator = IpAllocator(used={"10.244.0.5"})
    with pytest.raises(IpAllocationError, match="instance_groups/web/networks/0/static_ips/0: IP 10.244.0.5 is already in use"):
        allocator.claim(subnet, "10.244.0.5", "instance_groups/web/networks/0/static_ips/0")
