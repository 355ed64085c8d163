"""Container addressing, the DEA's nft ruleset and the settings that feed them (pure: no
root; the rules themselves are exercised by tests/security/test_dea_network.py)."""

from __future__ import annotations

import ipaddress

import pytest

from cf_platform.dea import container_net, nat
from cf_platform.dea.config import ConfigError, DeaConfig

BASE = {"ip": "10.244.0.12", "nats": {"servers": ["nats://10.244.0.2:4222"]}}


def test_each_slot_gets_its_own_slash_30():
    pool = container_net.parse_pool("10.254.0.0/20")
    assert container_net.slots(pool) == 1024
    first, last = container_net.for_slot(pool, 0), container_net.for_slot(pool, 1023)
    assert (first.host_if, first.host_ip, first.container_ip) == ("deac0", "10.254.0.1", "10.254.0.2")
    assert (last.host_if, last.host_ip, last.container_ip) == ("deac1023", "10.254.15.253", "10.254.15.254")
    assert len(last.host_if) <= 15   # an interface name's limit
    with pytest.raises(container_net.ContainerNetworkError, match="outside"):
        container_net.for_slot(pool, 1024)


def test_config_refuses_a_pool_too_small_for_the_port_range_and_root_uids():
    assert DeaConfig.from_dict(BASE).container_network == "10.254.0.0/20"
    with pytest.raises(ConfigError, match="room for 256 containers"):
        DeaConfig.from_dict({**BASE, "container_network": "10.254.0.0/22"})
    with pytest.raises(ConfigError, match="container_network '10.254.0.1/20'"):
        DeaConfig.from_dict({**BASE, "container_network": "10.254.0.1/20"})
    with pytest.raises(ConfigError, match="never root"):
        DeaConfig.from_dict({**BASE, "staging_uid": 0})


def test_deny_list_holds_the_gateway_the_nats_servers_and_the_operators_networks():
    own = [ipaddress.IPv4Interface("10.244.0.12/16")]
    assert nat.deny_list(["169.254.0.0/16"], ["10.244.0.2", "nats.example"], own) == [
        "10.244.0.1", "10.244.0.2", "169.254.0.0/16"]
    with pytest.raises(nat.NatError, match="'nonsense'"):
        nat.deny_list(["nonsense"], [], [])


def test_ruleset_maps_only_the_port_range_on_the_deas_address_and_fences_containers():
    rules = nat.ruleset("10.244.0.12", "10.254.0.0/20", 61001, 61999, ["10.244.0.1"])
    assert rules.count("ip daddr 10.244.0.12 tcp dport 61001-61999 dnat ip to tcp dport map @ports") == 2
    assert 'iifname "deac*" drop' in rules                       # nothing of the VM itself
    assert 'iifname "deac*" oifname "deac*" drop' in rules       # nor other containers
    assert 'iifname "deac*" ip daddr @deny drop' in rules and "elements = { 10.244.0.1 }" in rules
    assert 'oifname "deac*" ct status dnat accept' in rules and 'oifname "deac*" drop' in rules
