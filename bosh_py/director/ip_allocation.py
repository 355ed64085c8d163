"""Handing out IPs on manual networks during one deploy: the one owner of IP choices.

The address arithmetic (ranges, reserved and static pools) is the manifest package's
``SubnetIPs``; this adds what the planner needs on top: which subnets of a network serve
an AZ (all of them, in the cloud-config's order, as validation counts them), a record of
every IP the director already uses, and the network settings a CPI and an agent get for
an address.
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

    def next_dynamic_in(self, subnets: list[Subnet], az: str | None, where: str) -> tuple[Subnet, str]:
        """The first free dynamic IP over every subnet serving ``az``, in the cloud-config's order."""
        serving = serving_az(subnets, az, where)
        for subnet in serving:
            ip = subnet.ips.allocate_dynamic_ip(self.used)
            if ip is not None:
                self.used.add(ip)
                return subnet, ip
        ranges = ", ".join(str(s.ips.network) for s in serving)
        in_az = f" in az '{az}'" if az else ""
        raise IpAllocationError(f"{where}: network '{serving[0].network}' has no free IP left{in_az} "
                                f"(subnets {ranges})")

    def claim_in(self, subnets: list[Subnet], az: str | None, ip: str, where: str) -> Subnet:
        """Take a given IP on whichever subnet serving ``az`` holds it."""
        serving = serving_az(subnets, az, where)
        home = holding(serving, ip)
        if home is None:
            in_az = f" in az '{az}'" if az else ""
            raise IpAllocationError(f"{where}: IP {ip} is outside every subnet of network '{serving[0].network}'"
                                    f"{in_az} ({', '.join(str(s.ips.network) for s in serving)})")
        self.claim(home, ip, where)
        return home

    def address_for(self, subnets: list[Subnet], az: str | None, static_ip: str | None,
                    current_ip: str | None, where: str) -> tuple[Subnet, str]:
        """An instance's address on one network: its static IP, else the IP it already has
        (if a subnet of its AZ still holds it), else a new dynamic one."""
        if static_ip is not None:
            return self.claim_in(subnets, az, static_ip, where), static_ip
        if current_ip and holding(serving_az(subnets, az, where), current_ip) is not None:
            return self.claim_in(subnets, az, current_ip, where), current_ip
        return self.next_dynamic_in(subnets, az, where)


def serving_az(subnets: list[Subnet], az: str | None, where: str) -> list[Subnet]:
    """Every subnet that serves ``az`` (a subnet without azs serves all; no az takes all)."""
    serving = [s for s in subnets if not s.azs or az is None or az in s.azs]
    if not serving:
        network = subnets[0].network if subnets else "?"
        raise IpAllocationError(f"{where}: no subnet of network '{network}' serves az '{az}'")
    return serving


def holding(subnets: list[Subnet], ip: str) -> Subnet | None:
    return next((s for s in subnets if s.ips.contains(ip)), None)


def subnets_of(cloud_config: dict, network: str, where: str) -> list[Subnet]:
    """The subnets of a manual network of the cloud-config, in its order."""
    spec = next((n for n in cloud_config.get("networks") or [] if n.get("name") == network), None)
    if spec is None:
        raise IpAllocationError(f"{where}: network '{network}' is not in the cloud-config")
    if spec.get("type", "manual") != "manual":
        raise IpAllocationError(f"{where}: network '{network}' has type '{spec.get('type')}'; "
                                f"only manual networks are supported yet")
    return [Subnet.from_cloud_config(network, subnet) for subnet in spec.get("subnets") or []]
