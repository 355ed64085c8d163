"""Addresses of a container's network: one /30 per instance slot out of the DEA's
``container_network`` (Warden's scheme: the host end of the veth pair holds the first
address and is the container's gateway, the container's ``eth0`` holds the second).

A slot is the instance's port minus the start of the port range, so a slot, its port, its
uid and its /30 never collide while the port is held. Pure: no system calls here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

HOST_IF_PREFIX = "deac"        # the host ends of every container's veth pair: deac<slot>
PREFIXLEN = 30


class ContainerNetworkError(ValueError):
    pass


@dataclass(frozen=True)
class ContainerNetwork:
    host_if: str
    host_ip: str
    container_ip: str
    prefixlen: int = PREFIXLEN

    def to_spec(self) -> dict[str, object]:
        """The shape ``container_init`` reads."""
        return {"host_if": self.host_if, "host_ip": self.host_ip, "container_ip": self.container_ip,
                "prefixlen": self.prefixlen}


def parse_pool(cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as error:
        raise ContainerNetworkError(f"container_network {cidr!r}: {error}") from None


def slots(pool: ipaddress.IPv4Network) -> int:
    """How many containers the pool has room for."""
    return max(0, pool.num_addresses >> (32 - PREFIXLEN))


def for_slot(pool: ipaddress.IPv4Network, slot: int) -> ContainerNetwork:
    if not 0 <= slot < slots(pool):
        raise ContainerNetworkError(f"slot {slot} is outside container_network {pool} ({slots(pool)} slots)")
    base = int(pool.network_address) + (slot << (32 - PREFIXLEN))
    return ContainerNetwork(f"{HOST_IF_PREFIX}{slot}", str(ipaddress.IPv4Address(base + 1)),
                            str(ipaddress.IPv4Address(base + 2)))
