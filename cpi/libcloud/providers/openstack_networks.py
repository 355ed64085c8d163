"""A VM's networks as Nova NICs, and the addresses Neutron gave them back.

One NIC per network of the ``networks`` argument, in a fixed order so a VM's interfaces come up the
same way every time: the network with the default gateway first (else the first given), then the
others by name. A manual network's ``ip`` is the NIC's fixed IP; a dynamic one gets whatever
Neutron allocates. Floating IPs (BOSH ``vip`` networks) are not supported yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cpi.libcloud.errors import InvalidCall


@dataclass(frozen=True)
class Nic:
    network: str  # the manifest's network name
    net_id: str  # the Neutron network it is on
    fixed_ip: str | None = None

    def as_nova(self) -> dict[str, str]:
        nic = {"uuid": self.net_id}
        if self.fixed_ip:
            nic["fixed_ip"] = self.fixed_ip
        return nic


def ordered_names(networks: dict[str, Any]) -> list[str]:
    """The default gateway's network (else the first given), then the others by name."""
    names = list(networks)
    if not names:
        return []
    primary = next((name for name, net in networks.items()
                    if "gateway" in ((net or {}).get("default") or [])), names[0])
    return [primary, *sorted(name for name in names if name != primary)]


def nics_for(networks: dict[str, Any], vm_net_id: str | None = None) -> list[Nic]:
    """The NICs to ask Nova for; ``vm_net_id`` (the VM's own ``cloud_properties.net_id``) serves a
    VM with a single network whose network gives none."""
    if not networks:
        raise InvalidCall("create_vm: the network's cloud_properties.net_id (a Neutron network id) is "
                          "required, and no network was given")
    nics = []
    for name in ordered_names(networks):
        net = networks[name] or {}
        kind = net.get("type", "manual")
        if kind == "vip":
            raise InvalidCall(f"create_vm: network {name!r} is a vip network; floating IPs are not "
                              "supported by the openstack provider yet")
        net_id = (net.get("cloud_properties") or {}).get("net_id") or (vm_net_id if len(networks) == 1 else None)
        if not isinstance(net_id, str) or not net_id:
            raise InvalidCall(f"create_vm: network {name!r} needs cloud_properties.net_id (a Neutron "
                              "network id)")
        fixed_ip = str(net["ip"]) if kind == "manual" and net.get("ip") else None
        nics.append(Nic(name, net_id, fixed_ip))
    return nics


def networks_with_ips(networks: dict[str, Any], nics: list[Nic],
                      ports: list[dict[str, Any]]) -> dict[str, Any]:
    """``networks`` with each one's ``ip`` as Neutron allocated it: a fixed IP is its own, a dynamic
    network takes the address of a port on its Neutron network that no other NIC claimed."""
    out = {name: dict(net or {}) for name, net in networks.items()}
    addresses = [(str(port.get("network_id")), str(ip.get("ip_address")))
                 for port in ports for ip in port.get("fixed_ips") or []]
    claimed = {nic.fixed_ip for nic in nics if nic.fixed_ip}
    for nic in nics:
        if nic.fixed_ip:
            out[nic.network]["ip"] = nic.fixed_ip
            continue
        free = next((ip for net_id, ip in addresses if net_id == nic.net_id and ip not in claimed), None)
        if free is not None:
            out[nic.network]["ip"] = free
            claimed.add(free)
    return out
