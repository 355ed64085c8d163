"""Handing out IPs on manual networks during one deploy.

The address arithmetic (ranges, reserved and static pools) is the manifest package's
``SubnetIPs``; this adds what the planner needs on top: a record of every IP the director
already uses, and the network settings a CPI and an agent get for an address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bosh_py.errors import BoshPyError
from bosh_py.manifest.models import ManualSubnet
from bosh_py.manifest.network import SubnetIPs


class IpAllocationError(BoshPyError):
    pass


@dataclass
class Subnet:
    network: str
    spec: ManualSubnet
    ips: SubnetIPs

    @classmethod
    def from_cloud_config(cls, network: str, subnet: dict) -> "Subnet":
        spec = ManualSubnet.model_validate(subnet)
        return cls(network, spec, SubnetIPs.from_subnet(spec))

    @property
    def azs(self) -> tuple[str, ...]:
        return self.spec.all_azs

    def settings(self, ip: str, default: bool = True) -> dict:
        """The network settings a CPI and an agent get for one address on this subnet."""
        settings = {"type": "manual", "ip": ip, "netmask": str(self.ips.network.netmask),
                    "gateway": str(self.ips.gateway), "dns": list(self.spec.dns),
                    "cloud_properties": dict(self.spec.cloud_properties)}
        if default:
            settings["default"] = ["dns", "gateway"]
        return settings


@dataclass
class IpAllocator:
    """One per deploy: knows every IP in use on the director, hands out the rest."""

    used: set[str] = field(default_factory=set)

    def claim(self, subnet: Subnet, ip: str, where: str) -> str:
        """Take a given IP (static, or the instance's own); one already in use is an error."""
        if not subnet.ips.contains(ip):
            raise IpAllocationError(f"{where}: IP {ip} is outside network '{subnet.network}' ({subnet.ips.network})")
        if ip in self.used:
            raise IpAllocationError(f"{where}: IP {ip} is already in use")
        self.used.add(ip)
        return ip

    def next_dynamic(self, subnet: Subnet, where: str) -> str:
        ip = subnet.ips.allocate_dynamic_ip(self.used)
        if ip is None:
            raise IpAllocationError(f"{where}: network '{subnet.network}' has no free IP left in {subnet.ips.network}")
        self.used.add(ip)
        return ip

    def release(self, ip: str) -> None:
        self.used.discard(ip)
