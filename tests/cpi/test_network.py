"""The local CPI's host-network checks that need no root."""

from __future__ import annotations

import ipaddress

from cpi.local.network import subnet_holder

ADDRESSES = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.168.7.20/24 brd 192.168.7.255 scope global eth0\\       valid_lft forever preferred_lft forever
5: bpt1a2b    inet 10.254.100.1/24 scope global bpt1a2b\\       valid_lft forever preferred_lft forever
"""


def test_the_interface_holding_an_overlapping_subnet_is_named():
    assert subnet_holder(ADDRESSES, "other", ipaddress.IPv4Network("10.254.100.0/24")) == \
        "bpt1a2b (10.254.100.1/24)"
    assert subnet_holder(ADDRESSES, "other", ipaddress.IPv4Network("192.168.0.0/16")) == \
        "eth0 (192.168.7.20/24)"


def test_the_bridge_itself_and_other_subnets_are_no_conflict():
    assert subnet_holder(ADDRESSES, "bpt1a2b", ipaddress.IPv4Network("10.254.100.0/24")) is None
    assert subnet_holder(ADDRESSES, "other", ipaddress.IPv4Network("10.254.101.0/24")) is None
    assert subnet_holder("", "other", ipaddress.IPv4Network("10.254.101.0/24")) is None
