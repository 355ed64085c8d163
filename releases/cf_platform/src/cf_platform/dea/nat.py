"""The DEA VM's side of container networking: nftables in the DEA's own network namespace.

One table, ``inet bosh_py_dea``, owned by the DEA and rebuilt whenever a DEA process
starts (a previous process's mappings and veths are removed first):

- inbound: a TCP connection to ``<dea ip>:<instance port>`` is DNAT-ed to that instance's
  container (the ``ports`` map): PREROUTING for routers, OUTPUT for the DEA's own health
  check. Nothing else reaches a container: forwarding into a veth needs a DNAT.
- outbound from containers: replies pass; new connections to the DEA VM itself (any
  port, IPv4 or IPv6), to other containers, and to the ``deny`` set (the VM subnet's
  gateway, where the director's NATS and blobstore live; the CF NATS servers; the
  operator's ``container_deny_egress``) are dropped; the rest leaves masqueraded as the
  DEA's address. IPv6 from containers is dropped.
- the VM forwards nothing that is not to or from a container.

``ruleset`` is pure (tested without root); ``PortMapper`` runs ``nft``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .container_net import HOST_IF_PREFIX

log = logging.getLogger(__name__)

TABLE = "bosh_py_dea"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class NatError(Exception):
    pass


def ruleset(dea_ip: str, pool: str, port_start: int, port_end: int, deny: list[str]) -> str:
    """The whole table, as ``nft -f`` reads it (any previous version is deleted first)."""
    ifs = f'"{HOST_IF_PREFIX}*"'
    ports = f"{port_start}-{port_end}"
    elements = f"\n    elements = {{ {', '.join(deny)} }}" if deny else ""
    return f"""table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
  map ports {{
    type inet_service : ipv4_addr
  }}
  set deny {{
    type ipv4_addr
    flags interval{elements}
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {dea_ip} tcp dport {ports} dnat ip to tcp dport map @ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    ip daddr {dea_ip} tcp dport {ports} dnat ip to tcp dport map @ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {pool} oifname != {ifs} masquerade
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname {ifs} ct state established,related accept
    iifname {ifs} drop
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname != {ifs} oifname != {ifs} drop
    ct state established,related accept
    iifname {ifs} oifname {ifs} drop
    iifname {ifs} meta nfproto ipv6 drop
    iifname {ifs} ip daddr @deny drop
    oifname {ifs} ct status dnat accept
    oifname {ifs} drop
  }}
}}
"""


def deny_list(configured: list[str] | tuple[str, ...], nats_hosts: list[str],
              own_networks: list[ipaddress.IPv4Interface]) -> list[str]:
    """Egress the containers never get: the operator's list, the NATS servers given as IPv4
    literals, and the first address of each of the VM's own subnets (the gateway, where
    the director's NATS and blobstore answer on a bosh-py VM)."""
    found: list[str] = []
    for item in configured:
        try:
            found.append(str(ipaddress.IPv4Network(item, strict=False)))
        except ValueError:
            raise NatError(f"container_deny_egress: {item!r} is not an IPv4 address or network") from None
    for host in nats_hosts:
        try:
            found.append(str(ipaddress.IPv4Address(host)))
        except ValueError:
            continue
    for interface in own_networks:
        if interface.network.prefixlen < 31:
            found.append(str(interface.network.network_address + 1))
    return sorted(set(found), key=lambda n: ipaddress.IPv4Network(n))


def _collapse(networks: list[str]) -> list[str]:
    return [str(n) for n in ipaddress.collapse_addresses(ipaddress.IPv4Network(n) for n in networks)]


def _run(argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NatError(f"{argv[0]}: {error}") from None
    if check and done.returncode != 0:
        raise NatError(f"{' '.join(argv[:4])}: {done.stderr.strip() or done.returncode}")
    return done


def own_ipv4_networks() -> list[ipaddress.IPv4Interface]:
    done = _run(["ip", "-j", "-4", "addr", "show"])
    found = []
    for link in json.loads(done.stdout or "[]"):
        if link.get("ifname", "").startswith(HOST_IF_PREFIX) or link.get("ifname") == "lo":
            continue
        for addr in link.get("addr_info", []):
            found.append(ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}"))
    return found


def leftover_links() -> list[str]:
    done = _run(["ip", "-j", "link", "show"])
    return [link["ifname"] for link in json.loads(done.stdout or "[]")
            if link.get("ifname", "").startswith(HOST_IF_PREFIX)]


@dataclass
class PortMapper:
    """The DEA's nft table and its port map (blocking calls: use from a thread or at start)."""

    dea_ip: str
    pool: str
    port_start: int
    port_end: int
    deny: list[str]

    def reset(self) -> None:
        """Remove what an earlier DEA process left (veths, mappings), load a fresh table and
        turn on forwarding in this network namespace."""
        for name in leftover_links():
            log.info("removing leftover container link %s", name)
            _run(["ip", "link", "del", name], check=False)
        _run(["nft", "-f", "-"], ruleset(self.dea_ip, self.pool, self.port_start, self.port_end,
                                         _collapse(self.deny)))
        try:
            IP_FORWARD.write_text("1\n")
        except OSError as error:
            raise NatError(f"cannot enable IPv4 forwarding in the DEA's network namespace ({IP_FORWARD}): "
                           f"{error}") from None

    def map(self, port: int, container_ip: str) -> None:
        _run(["nft", "add", "element", "inet", TABLE, "ports", f"{{ {int(port)} : {container_ip} }}"])

    def unmap(self, port: int) -> None:
        _run(["nft", "delete", "element", "inet", TABLE, "ports", f"{{ {int(port)} }}"], check=False)

    def teardown(self) -> None:
        _run(["nft", "delete", "table", "inet", TABLE], check=False)
        for name in leftover_links():
            _run(["ip", "link", "del", name], check=False)


def remove_link(name: str) -> None:
    """Delete one container's host-side veth (gone already when its namespace died)."""
    _run(["ip", "link", "del", name], check=False)
