"""Host networking for VMs: one bridge holding the gateway address, one netns + veth per VM.

A VM's network namespace is made by its boot, inside its user namespace (so the VM's root
may configure it, and nothing else); the host names it and moves the veth end in by PID.

Only the subnet's own link route exists inside a VM's namespace (no default route), so a
VM can reach its peers and the gateway (the director's NATS and blobstore) and nothing else.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpi.local.errors import CloudError, VMCreationFailed


@dataclass(frozen=True)
class VmNetwork:
    """The one manual network a local VM has, as derived from BOSH's ``networks`` argument."""

    name: str
    ip: str
    prefixlen: int
    gateway: str

    @property
    def mac(self) -> str:
        """Derived from the IP: a re-used IP keeps its MAC, so no host ARP entry goes stale."""
        return mac_of(self.ip)


def mac_of(address: str) -> str:
    """A locally administered MAC derived from an IPv4 address (VMs' and the bridge's)."""
    return "02:42:" + ":".join(f"{octet:02x}" for octet in ipaddress.IPv4Address(address).packed)


def parse_networks(networks: Any) -> VmNetwork:
    """Validate BOSH's networks hash; the local CPI supports exactly one manual network."""
    if not isinstance(networks, dict) or not networks:
        raise VMCreationFailed("networks: expected a hash with one manual network")
    if len(networks) != 1:
        raise VMCreationFailed(f"networks: the local CPI supports one network, got {sorted(networks)}")
    (name, spec), = networks.items()
    if not isinstance(spec, dict) or spec.get("type", "manual") != "manual":
        raise VMCreationFailed(f"networks/{name}: only type 'manual' (with an ip) is supported")
    try:
        ip = ipaddress.IPv4Address(spec["ip"])
        subnet = ipaddress.IPv4Network(f"{spec['gateway']}/{spec['netmask']}", strict=False)
        gateway = ipaddress.IPv4Address(spec["gateway"])
    except (KeyError, ValueError) as error:
        raise VMCreationFailed(f"networks/{name}: needs ip, netmask, gateway ({error})") from error
    if ip not in subnet or ip == gateway or ip in (subnet.network_address, subnet.broadcast_address):
        raise VMCreationFailed(f"networks/{name}: ip {ip} is not a host address of {subnet} "
                               f"other than the gateway")
    return VmNetwork(name, str(ip), subnet.prefixlen, str(gateway))


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip``; failures become CloudError with ip's own message."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise CloudError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def ip_batch(commands: list[list[str]], netns: str | None = None) -> None:
    """Several ``ip`` commands in one process (``ip -batch``; in ``netns`` with ``-n``): each
    ``ip`` run costs about 3.5 ms of CPU, and a VM's boot needs a dozen. ip stops at the first
    command that fails and names it; that becomes CloudError."""
    args = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    script = "".join(" ".join(command) + "\n" for command in commands)
    result = subprocess.run(args, input=script, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CloudError(f"{' '.join(args)} failed: {result.stderr.strip()}\ncommands:\n{script}")


def link_exists(name: str) -> bool:
    """Whether the host has a link ``name`` (its /sys entry: no ``ip`` process to ask)."""
    return bool(name) and "/" not in name and name not in (".", "..") and Path("/sys/class/net", name).exists()


def _bridge_ready(bridge: str, address: str, addresses: str, mac: str) -> bool:
    """The bridge exists, is up, has ``mac`` and holds ``address`` (from ``ip -o -4 addr``)."""
    try:
        flags = int(Path(f"/sys/class/net/{bridge}/flags").read_text(), 16)
        current_mac = Path(f"/sys/class/net/{bridge}/address").read_text().strip()
    except (OSError, ValueError):
        return False
    held = any(line.split()[1:4] == [bridge, "inet", address] for line in addresses.splitlines()
               if len(line.split()) >= 4)
    return bool(flags & 0x1) and current_mac == mac and held  # 0x1: IFF_UP


def subnet_holder(addresses: str, bridge: str, subnet: ipaddress.IPv4Network) -> str | None:
    """The interface other than ``bridge`` with an address in ``subnet``, from ``ip -o -4
    addr`` output: the host would route the subnet there, and this bridge's VMs would be
    unreachable (an operator's LAN, or another CPI's bridge on the same /24)."""
    for line in addresses.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] != "inet" or fields[1] == bridge:
            continue
        held = ipaddress.IPv4Interface(fields[3]).network
        if held.overlaps(subnet):
            return f"{fields[1]} ({fields[3]})"
    return None


def ensure_bridge(bridge: str, gateway: str, prefixlen: int) -> None:
    """Create the bridge with the gateway address on first use; idempotent. Refuses a subnet
    another interface already holds, rather than making VMs no one can reach."""
    subnet = ipaddress.IPv4Network(f"{gateway}/{prefixlen}", strict=False)
    addresses = ip("-o", "-4", "addr", "show").stdout
    holder = subnet_holder(addresses, bridge, subnet)
    if holder is not None:
        raise CloudError(f"subnet {subnet} of bridge {bridge} is already on interface {holder}: its VMs "
                         f"would be unreachable; give this CPI's network another subnet")
    if _bridge_ready(bridge, f"{gateway}/{prefixlen}", addresses, mac_of(gateway)):
        return  # every VM after the first: one ``ip`` run, not five
    if not link_exists(bridge):
        created = ip("link", "add", bridge, "type", "bridge", check=False)
        if created.returncode != 0 and not link_exists(bridge):
            raise CloudError(f"cannot create bridge {bridge}: {created.stderr.strip()}")
    address = f"{gateway}/{prefixlen}"
    present = ip("-o", "-4", "addr", "show", "dev", bridge).stdout.split()
    added = ip("addr", "add", address, "dev", bridge, check=False) if address not in present else None
    if added is not None and added.returncode != 0 and \
            address not in ip("-o", "-4", "addr", "show", "dev", bridge).stdout.split():
        raise CloudError(f"cannot give bridge {bridge} address {gateway}/{prefixlen}: "
                         f"{added.stderr.strip()}")
    pin_bridge_mac(bridge, mac_of(gateway))
    ip("link", "set", bridge, "up")


def pin_bridge_mac(bridge: str, mac: str) -> None:
    """A bridge without a MAC of its own takes the lowest MAC of its ports, so deleting the VM
    whose veth had it changed the gateway's MAC under every other VM: their ARP entries
    pointed at an address no port had any more, and their traffic to the director (NATS
    heartbeats) was lost until those entries expired, long enough for the health monitor to
    take healthy VMs for dead. Set explicitly, the bridge's MAC never follows its ports."""
    if Path(f"/sys/class/net/{bridge}/address").read_text().strip() != mac:
        ip("link", "set", bridge, "address", mac)


def wire_vm_link(netns: str, veth: str, network: VmNetwork, bridge: str, pid: int) -> None:
    """Name the network namespace of ``pid`` (the VM's own, owned by its user namespace)
    ``netns``, and give it a veth pair: host end in the bridge, ``eth0`` with the VM's IP
    and MAC inside."""
    ip_batch([["netns", "attach", netns, str(pid)],
              ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns,
               "address", network.mac],
              ["link", "set", veth, "master", bridge, "up"],
              ["neigh", "flush", "to", network.ip, "dev", bridge]])
    ip_batch([["addr", "add", f"{network.ip}/{network.prefixlen}", "dev", "eth0"],
              ["link", "set", "lo", "up"],
              ["link", "set", "eth0", "up"]], netns=netns)


def delete_vm_link(netns: str, veth: str, vm_ip: str, bridge: str) -> None:
    """Undo wire_vm_link; each piece may already be gone (a new VM has none of them)."""
    if Path("/var/run/netns", netns).exists():  # where ip netns keeps its names
        ip("netns", "delete", netns, check=False)
    if link_exists(veth):
        ip("link", "delete", veth, check=False)
    flush_neighbour(vm_ip, bridge)


def flush_neighbour(vm_ip: str, bridge: str) -> None:
    """Forget the host's ARP entry for the IP, which the next VM with this IP will answer."""
    if link_exists(bridge):
        ip("neigh", "flush", "to", vm_ip, "dev", bridge, check=False)


def netns_names() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def link_names() -> list[str]:
    out = ip("-o", "link", "show", check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
