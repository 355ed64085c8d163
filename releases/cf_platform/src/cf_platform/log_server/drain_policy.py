"""Which addresses a syslog drain may reach: the log server's guard against SSRF.

A drain URL comes from a service binding, so from outside the platform: without a check, a
space developer (through a broker that passes a URL on) could make the log server, a platform
VM, open TCP connections to the director, NATS, the CC's internal API, its own loopback or a
cloud's metadata service (169.254.169.254). Loggregator had ``blacklisted_syslog_ranges``
for this.

Pure: ranges in, a reason (or None) out. ``BUILTIN_BLOCKED`` is always blocked (loopback,
link-local, "this network", multicast, reserved and unspecified addresses); the operator adds
``blocked`` ranges (the platform's own networks) and may carve ``allowed`` exceptions out of
both, which is the only way to drain to a blocked address. IPv4-mapped IPv6 addresses
(``::ffff:127.0.0.1``) are judged as the IPv4 address they are. The cloud controller uses
:func:`builtin_refusal` to refuse obvious literals at bind time; the log server's check at
connect time (syslog_drain.py) is the enforcement.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BadRange(ValueError):
    pass


@dataclass(frozen=True)
class AddressRange:
    """first..last inclusive, one IP version; ``text`` is how the operator wrote it."""

    first: IPAddress
    last: IPAddress
    text: str

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return address.version == self.first.version and self.first <= address <= self.last


def parse_range(text: object, strict: bool = True) -> AddressRange:
    """A CIDR (``10.244.0.0/24``), one address, or ``a.b.c.d-e.f.g.h`` (loggregator's form).

    ``strict``: a CIDR with host bits set (``10.244.0.20/24``) is an error; without it, the
    whole network is meant (how a VM's ``ip/netmask`` names its network)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRange(f"expected a CIDR, an address or a range a.b.c.d-e.f.g.h, got {text!r}")
    value = text.strip()
    try:
        if "-" in value:
            start, _, end = value.partition("-")
            first, last = ipaddress.ip_address(start.strip()), ipaddress.ip_address(end.strip())
            if first.version != last.version:
                raise BadRange(f"{value!r}: both ends must be IPv4 or both IPv6")
            if first > last:
                raise BadRange(f"{value!r}: the range ends before it starts")
            return AddressRange(first, last, value)
        address, _, mask = value.partition("/")
        if ":" in mask:     # an IPv6 netmask (a VM's spec.networks): Python takes only a prefix length
            bits = f"{int(ipaddress.IPv6Address(mask)):0128b}"
            if "01" in bits:
                raise BadRange(f"{value!r}: {mask} is not a netmask")
            value = f"{address}/{bits.count('1')}"
        network = ipaddress.ip_network(value, strict=strict)
    except BadRange:
        raise
    except ValueError as error:
        raise BadRange(f"{value!r} is not a CIDR, an address or a range a.b.c.d-e.f.g.h ({error})") from None
    return AddressRange(network.network_address, network.broadcast_address, value)


BUILTIN_BLOCKED: tuple[AddressRange, ...] = tuple(parse_range(r) for r in (
    "0.0.0.0/8",          # "this network"; 0.0.0.0 reaches the local host
    "127.0.0.0/8",        # loopback: the log server's own ports
    "169.254.0.0/16",     # link-local: cloud metadata (169.254.169.254)
    "224.0.0.0/4",        # multicast
    "240.0.0.0/4",        # reserved, and the broadcast address
    "::/128",             # unspecified
    "::1/128",            # loopback
    "fe80::/10",          # link-local
    "ff00::/8",           # multicast
    "fd00:ec2::254/128",  # AWS's metadata service over IPv6
))


def normalized(address: str | IPAddress) -> IPAddress:
    """An address as it will be reached: a scope (``%eth0``) dropped, IPv4-mapped unwrapped."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def builtin_refusal(address: str | IPAddress) -> str | None:
    """Why ``address`` is never a drain (loopback, link-local, ...), None when it may be."""
    ip = normalized(address)
    blocked = next((r for r in BUILTIN_BLOCKED if ip in r), None)
    return None if blocked is None else f"{ip} is in {blocked.text}, which is always blocked"


@dataclass(frozen=True)
class DrainPolicy:
    blocked: tuple[AddressRange, ...] = ()     # the operator's, on top of BUILTIN_BLOCKED
    allowed: tuple[AddressRange, ...] = ()     # exceptions to both

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why a drain may not connect to ``address``; None when it may."""
        ip = normalized(address)
        if any(ip in r for r in self.allowed):
            return None
        blocked = next((r for r in self.blocked if ip in r), None)
        if blocked is not None:
            return f"{ip} is in the blocked range {blocked.text}"
        return builtin_refusal(ip)

    def describe(self) -> dict[str, list[str]]:
        """For /varz and the startup log: what is blocked and what is let through."""
        return {"blocked": [r.text for r in (*BUILTIN_BLOCKED, *self.blocked)],
                "allowed": [r.text for r in self.allowed]}
