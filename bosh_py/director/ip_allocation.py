"""Handing out IPs on manual networks: static IPs as the manifest says, dynamic ones from
what is left of the subnet after reserved, static and already used addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from bosh_py.errors import BoshPyError


class IpAllocationError(BoshPyError):
    pass


def expand_ranges(entries: list[str] | None) -> set[ipaddress.IPv4Address]:
    """Expand BOSH's `reserved`/`static` entries: single IPs and "a - b" ranges."""
    found: set[ipaddress.IPv4Address] = set()
    for entry in entries or []:
        first, _, last = (part.strip() for part in str(entry).partition("-"))
        start = ipaddress.IPv4Address(first)
        end = ipaddress.IPv4Address(last) if last else start
        found.update(ipaddress.IPv4Address(n) for n in range(int(start), int(end) + 1))
    return found


@dataclass
class Subnet:
    network: str
    range: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    dns: list[str]
    reserved: set[ipaddress.IPv4Address]
    static: set[ipaddress.IPv4Address]
    azs: list[str]
    cloud_properties: dict

    @classmethod
    def from_cloud_config(cls, network: str, subnet: dict) -> "Subnet":
        azs = subnet.get("azs") or ([subnet["az"]] if subnet.get("az") else [])
        return cls(network, ipaddress.IPv4Network(subnet["range"], strict=False),
                   ipaddress.IPv4Address(subnet["gateway"]), list(subnet.get("dns") or []),
                   expand_ranges(subnet.get("reserved")), expand_ranges(subnet.get("static")),
                   azs, dict(subnet.get("cloud_properties") or {}))

    def settings(self, ip: ipaddress.IPv4Address, default: bool = True) -> dict:
        """The network settings a CPI and an agent get for one address on this subnet."""
        settings = {"type": "manual", "ip": str(ip), "netmask": str(self.range.netmask),
                    "gateway": str(self.gateway), "dns": self.dns, "cloud_properties": self.cloud_properties}
        if default:
            settings["default"] = ["dns", "gateway"]
        return settings


@dataclass
class IpAllocator:
    """One per deploy: knows every IP in use on the director, hands out the rest."""

    used: set[ipaddress.IPv4Address] = field(default_factory=set)

    def claim(self, subnet: Subnet, ip: str, where: str) -> ipaddress.IPv4Address:
        address = ipaddress.IPv4Address(ip)
        if address not in subnet.range:
            raise IpAllocationError(f"{where}: IP {ip} is outside network '{subnet.network}' ({subnet.range})")
        self.used.add(address)
        return address

    def next_dynamic(self, subnet: Subnet, where: str) -> ipaddress.IPv4Address:
        skip = self.used | subnet.reserved | subnet.static | {subnet.gateway}
        for address in subnet.range.hosts():
            if address not in skip:
                self.used.add(address)
                return address
        raise IpAllocationError(f"{where}: network '{subnet.network}' has no free IP left in {subnet.range}")

    def release(self, ip: str) -> None:
        self.used.discard(ipaddress.IPv4Address(ip))
