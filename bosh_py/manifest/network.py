"""IP arithmetic for manual networks: ranges, reserved and static pools, dynamic allocation.

Addresses are kept as integer intervals, never expanded into sets, so a ``/16`` (or an
IPv6 subnet) costs nothing; the planner passes and receives plain strings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bosh_py.manifest.models import ManualSubnet

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Interval = tuple[int, int]  # inclusive


def parse_ip(text: str) -> IPAddress:
    """One address; ``ValueError`` with an operator-facing message if it is not one."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not an IP address") from None


def parse_ip_entry(entry: str) -> Interval:
    """``"10.0.0.5"``, ``"10.0.0.5 - 10.0.0.9"`` (BOSH's range form) or ``"10.0.0.0/28"``."""
    if not isinstance(entry, str):
        raise ValueError(f"expected an IP address or range, found {entry!r}")
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ValueError(f"'{entry}' is not an IP address or range") from None
        return int(network.network_address), int(network.broadcast_address)
    low_text, sep, high_text = entry.partition("-")
    if not sep:
        address = int(parse_ip(entry))
        return address, address
    try:
        low, high = parse_ip(low_text), parse_ip(high_text)
    except ValueError:
        raise ValueError(f"'{entry}' is not an IP address or range") from None
    if low.version != high.version or int(low) > int(high):
        raise ValueError(f"'{entry}' is not a valid range (start must not be after end)")
    return int(low), int(high)


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[list[int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return tuple((low, high) for low, high in merged)


def parse_ip_entries(entries: Sequence[str]) -> tuple[Interval, ...]:
    return merge_intervals(parse_ip_entry(entry) for entry in entries)


def expand_ip_entries(entries: Sequence[str], limit: int = 65536) -> list[str]:
    """Every address the entries name, in order; for ``static_ips`` lists, which are small.

    ``limit`` guards against a typo like ``10.0.0.1 - 10.255.0.1`` eating memory.
    """
    addresses: list[str] = []
    for entry in entries:
        low, high = parse_ip_entry(entry)
        if high - low + 1 > limit - len(addresses):
            raise ValueError(f"'{entry}' names more than {limit} addresses")
        addresses.extend(str(ipaddress.ip_address(value)) for value in range(low, high + 1))
    return addresses


def _contains(intervals: Sequence[Interval], value: int) -> Interval | None:
    return next(((low, high) for low, high in intervals if low <= value <= high), None)


@dataclass(frozen=True)
class SubnetIPs:
    """The address pools of one manual subnet."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    gateway: IPAddress
    reserved: tuple[Interval, ...]
    static: tuple[Interval, ...]
    azs: tuple[str, ...] = ()

    @classmethod
    def from_subnet(cls, subnet: ManualSubnet) -> SubnetIPs:
        """Raises ``ValueError`` for malformed entries (validation reports them first)."""
        return cls(
            network=ipaddress.ip_network(subnet.range.strip(), strict=False),
            gateway=parse_ip(subnet.gateway),
            reserved=parse_ip_entries(subnet.reserved),
            static=parse_ip_entries(subnet.static),
            azs=subnet.all_azs,
        )

    @property
    def first_host(self) -> int:
        return int(self.network.network_address) + 1

    @property
    def last_host(self) -> int:
        broadcast = int(self.network.broadcast_address)
        return broadcast - 1 if self.network.version == 4 else broadcast

    def contains(self, ip: str | IPAddress) -> bool:
        address = parse_ip(ip) if isinstance(ip, str) else ip
        return address.version == self.network.version and address in self.network

    def is_static(self, ip: str) -> bool:
        return _contains(self.static, int(parse_ip(ip))) is not None

    def is_reserved(self, ip: str) -> bool:
        return _contains(self.reserved, int(parse_ip(ip))) is not None

    def _excluded(self) -> tuple[Interval, ...]:
        gateway = int(self.gateway)
        return merge_intervals([*self.reserved, *self.static, (gateway, gateway)])

    def dynamic_capacity(self) -> int:
        """How many addresses the dynamic pool holds (hosts minus gateway, reserved, static)."""
        first, last = self.first_host, self.last_host
        if last < first:
            return 0
        taken = sum(max(0, min(high, last) - max(low, first) + 1) for low, high in self._excluded())
        return last - first + 1 - taken

    def allocate_dynamic_ip(self, used: Iterable[str]) -> str | None:
        """The lowest free dynamic address, or ``None`` when the pool is exhausted.

        The walk jumps over excluded intervals and steps over used addresses, so it takes
        at most ``len(used) + len(intervals)`` steps whatever the subnet's size.
        """
        taken = {int(parse_ip(ip)) for ip in used}
        excluded = self._excluded()
        current = self.first_host
        while current <= self.last_host:
            interval = _contains(excluded, current)
            if interval is not None:
                current = interval[1] + 1
            elif current in taken:
                current += 1
            else:
                return str(ipaddress.ip_address(current))
        return None


def allocate_dynamic_ip(subnets: Sequence[SubnetIPs], used: Iterable[str], az: str | None = None) -> str | None:
    """First free dynamic address over ``subnets`` in order, limited to ``az`` if given."""
    used = list(used)
    for subnet in subnets:
        if az is not None and subnet.azs and az not in subnet.azs:
            continue
        ip = subnet.allocate_dynamic_ip(used)
        if ip is not None:
            return ip
    return None
