"""The user data every provider sends is a #cloud-config document that cloud-init on a stock
image acts on: the director's host key becomes sshd's only host key, its key root's authorized
key; the agent settings ride along, with the disks each IaaS names its own way. Checked against
cloud-init's cc_ssh schema (tests/cpi_libcloud/cloud_config_checks.py); the providers' tests read
the same document back from their emulators."""

from __future__ import annotations

import pytest
import yaml

from bosh_py.ssh.keys import generate_keypair
from cpi.libcloud.errors import InvalidCall
from cpi.libcloud.providers.aws import EC2_DISKS
from cpi.libcloud.providers.openstack_flavors import Flavor
from cpi.libcloud.providers.openstack_server import agent_disks
from cpi.libcloud.providers.vsphere_guestinfo import (
    MadeDevices,
    check_settings,
    network_config,
    with_mac,
)
from cpi.libcloud.user_data import (
    agent_settings,
    cloud_config,
    cloud_config_from,
    decode,
    encode,
)
from tests.cpi_libcloud.cloud_config_checks import (
    assert_installs_keys,
    parsed_cloud_config,
)

MAC = "00:50:56:aa:bb:cc"


def test_host_key_and_authorized_keys_in_cloud_init_terms() -> None:
    host, director = generate_keypair("host"), generate_keypair("director")
    env = {"bosh": {"host_key": host.as_env(), "authorized_keys": [director.public_key]}, "x": 1}
    settings = agent_settings("agent-1", {}, env, {"mbus": "nats://10.0.0.1:4222"})
    document = parsed_cloud_config(cloud_config(settings))
    assert_installs_keys(document, host.public_key, host.private_key, [director.public_key])
    assert document["settings"] == settings
    assert yaml.safe_load(cloud_config_from(encode(settings))) == document


def test_no_keys_no_ssh_section() -> None:
    document = parsed_cloud_config(cloud_config(agent_settings("agent-2", {}, {}, {})))
    assert set(document) == {"settings"}


@pytest.mark.parametrize("host_key", [{"private_key": "x", "public_key": "ssh-dss AAAA"},
                                      {"public_key": "ssh-ed25519 AAAA"}, "a string"])
def test_a_host_key_cloud_init_cannot_install_is_refused(host_key: object) -> None:
    with pytest.raises(InvalidCall, match="env.bosh.host_key"):
        cloud_config(agent_settings("agent-3", {}, {"bosh": {"host_key": host_key}}, {}))


def test_the_schema_check_catches_what_cloud_init_would_not_take() -> None:
    """The check itself can fail: a key type cloud-init does not know, a string for a list."""
    with pytest.raises(Exception, match="dsa_private"):
        parsed_cloud_config('#cloud-config\n{"ssh_keys": {"dsa_private": "x"}}')
    with pytest.raises(Exception, match="is not of type 'array'"):
        parsed_cloud_config('#cloud-config\n{"ssh_authorized_keys": "ssh-ed25519 AAAA"}')


def test_each_provider_says_where_its_disks_are() -> None:
    """The neutral settings name only persistent disks; each IaaS adds its own system and
    ephemeral disks: EC2 device names, OpenStack virtio names (an ephemeral disk only when the
    flavor has one), vSphere SCSI units in the form attach_disk's hint has."""
    encoded = encode(agent_settings("agent-4", {}, {}, {}))
    assert decode(encoded)["disks"] == {"persistent": {}}
    assert yaml.safe_load(cloud_config_from(encoded, disks=EC2_DISKS))["settings"]["disks"] == \
        {"system": "/dev/xvda", "ephemeral": "/dev/sdb", "persistent": {}}
    flavors = [Flavor("2", "m1.small", 1, 2048, 20, 0), Flavor("e1", "e1.small", 1, 2048, 5, 50)]
    assert agent_disks(flavors, "m1.small") == {"system": "/dev/vda", "persistent": {}}
    assert agent_disks(flavors, "e1") == {"system": "/dev/vda", "ephemeral": "/dev/vdb", "persistent": {}}
    assert MadeDevices(MAC, 0, 1).agent_disks() == \
        {"system": {"id": "0"}, "ephemeral": {"id": "1"}, "persistent": {}}


def test_a_static_ip_becomes_network_config_v2_matched_by_mac() -> None:
    networks = {"private": {"type": "manual", "ip": "10.0.0.50", "netmask": "255.255.255.0",
                            "gateway": "10.0.0.1", "dns": ["10.0.0.2"], "default": ["dns", "gateway"]},
                "other": {"type": "dynamic"}}
    assert network_config(with_mac(networks, MAC), MAC) == {"version": 2, "ethernets": {"nic0": {
        "match": {"macaddress": MAC}, "addresses": ["10.0.0.50/24"], "gateway4": "10.0.0.1",
        "nameservers": {"addresses": ["10.0.0.2"]}}}}
    assert with_mac(networks, MAC)["private"]["mac"] == MAC and "mac" not in with_mac(networks, MAC)["other"]
    assert network_config({"default": {"type": "dynamic", "default": ["gateway"]}}, MAC) is None
    assert network_config(networks, None) is None  # no MAC, nothing to match the interface by


def test_a_static_ip_that_is_no_address_is_refused_naming_the_network() -> None:
    networks = {"private": {"type": "manual", "ip": "10.0.0.500", "netmask": "255.255.255.0"}}
    with pytest.raises(InvalidCall, match=r"networks\.private: ip '10\.0\.0\.500'"):
        check_settings(encode(agent_settings("agent-5", networks, {}, {})))
