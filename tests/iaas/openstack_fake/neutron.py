"""Neutron (network v2.0): networks, subnets, ports with fixed-IP allocation, security groups.

Nova calls ``create_port``/``delete_port`` here when it boots or deletes a server, as real Nova
asks Neutron for the server's ports.
"""

from __future__ import annotations

import ipaddress
import random

from aiohttp import web

from .bodies import body_of, reply
from .cloud import Cloud, new_id, now
from .errors import bad_request, conflict, not_found


def get_network(cloud: Cloud, network_id: str) -> dict:
    if network_id not in cloud.networks:
        raise not_found(f"Network {network_id} could not be found.", "NetworkNotFound")
    return cloud.networks[network_id]


def get_port(cloud: Cloud, port_id: str) -> dict:
    if port_id not in cloud.ports:
        raise not_found(f"Port {port_id} could not be found.", "PortNotFound")
    return cloud.ports[port_id]


def used_addresses(cloud: Cloud, subnet_id: str) -> set[str]:
    return {ip["ip_address"] for port in cloud.ports.values() for ip in port["fixed_ips"]
            if ip["subnet_id"] == subnet_id}


def subnet_for_address(cloud: Cloud, network: dict, address: str) -> dict:
    """The network's subnet that holds ``address``; the gateway and network/broadcast addresses are not
    assignable (Neutron's InvalidIpForNetwork)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise bad_request(f"Invalid input for ip_address. Reason: '{address}' is not a valid IP address.") from None
    for subnet_id in network["subnets"]:
        subnet = cloud.subnets[subnet_id]
        net = ipaddress.ip_network(subnet["cidr"])
        if ip in net and ip not in (net.network_address, net.broadcast_address) and address != subnet["gateway_ip"]:
            return subnet
    raise bad_request(f"IP address {address} is not a valid IP for any of the subnets on the specified network.",
                      "InvalidIpForNetwork")


def check_fixed_ip(cloud: Cloud, network: dict, address: str) -> dict:
    """The subnet for a requested fixed IP, or the error Neutron gives for it (bad or taken)."""
    subnet = subnet_for_address(cloud, network, address)
    if address in used_addresses(cloud, subnet["id"]):
        raise conflict(f"IP address {address} already allocated in subnet {subnet['id']}.",
                       "IpAddressAlreadyAllocated")
    return subnet


def next_free_address(cloud: Cloud, network: dict) -> tuple[dict, str]:
    """The lowest free address in the first subnet's allocation pools that has one."""
    for subnet_id in network["subnets"]:
        subnet = cloud.subnets[subnet_id]
        taken = used_addresses(cloud, subnet_id)
        for pool in subnet["allocation_pools"]:
            start, end = int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))
            for value in range(start, end + 1):
                address = str(ipaddress.ip_address(value))
                if address not in taken:
                    return subnet, address
    raise conflict(f"No more IP addresses available on network {network['id']}.", "IpAddressGenerationFailure")


def fixed_ips_for(cloud: Cloud, network: dict, requested: list[dict]) -> list[dict]:
    """Resolve a port's requested ``fixed_ips`` (``ip_address`` and/or ``subnet_id``) to concrete ones."""
    if not requested:
        subnet, address = next_free_address(cloud, network)
        return [{"subnet_id": subnet["id"], "ip_address": address}]
    resolved = []
    for entry in requested:
        if not isinstance(entry, dict):
            raise bad_request("Invalid input for fixed_ips: each entry must be an object.")
        if entry.get("subnet_id") and cloud.subnets.get(entry["subnet_id"], {}).get("network_id") != network["id"]:
            raise bad_request(f"Invalid input for operation: Failed to create port on network {network['id']}, "
                              f"because fixed_ips included invalid subnet {entry['subnet_id']}.")
        if entry.get("ip_address"):
            subnet = check_fixed_ip(cloud, network, entry["ip_address"])
            if entry.get("subnet_id") and entry["subnet_id"] != subnet["id"]:
                raise bad_request(f"IP address {entry['ip_address']} is not in subnet {entry['subnet_id']}.",
                                  "InvalidIpForSubnet")
            resolved.append({"subnet_id": subnet["id"], "ip_address": entry["ip_address"]})
        else:
            subnet, address = next_free_address(cloud, {"id": network["id"], "subnets": [entry["subnet_id"]]}
                                                 if entry.get("subnet_id") else network)
            resolved.append({"subnet_id": subnet["id"], "ip_address": address})
    return resolved


def security_group_ids(cloud: Cloud, names_or_ids: list[str]) -> list[str]:
    ids = []
    for wanted in names_or_ids:
        match = [group["id"] for group in cloud.security_groups.values() if wanted in (group["id"], group["name"])]
        if not match:
            raise not_found(f"Security group {wanted} does not exist", "SecurityGroupNotFound")
        ids.append(match[0])
    return ids


def create_port(cloud: Cloud, spec: dict, device_id: str = "", device_owner: str = "") -> dict:
    """Validate everything first, then record the port: a failed create leaves nothing behind."""
    network = get_network(cloud, str(spec.get("network_id", "")))
    fixed_ips = fixed_ips_for(cloud, network, spec.get("fixed_ips") or [])
    groups = spec.get("security_groups")
    group_ids = security_group_ids(cloud, groups) if groups is not None else security_group_ids(cloud, ["default"])
    stamp = now()
    port = {"id": new_id(), "name": spec.get("name", ""), "description": spec.get("description", ""),
            "network_id": network["id"], "admin_state_up": spec.get("admin_state_up", True),
            "mac_address": "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3)),
            "fixed_ips": fixed_ips, "device_id": device_id, "device_owner": device_owner,
            "status": "ACTIVE" if device_id else "DOWN", "security_groups": group_ids,
            "tenant_id": cloud.project_id, "project_id": cloud.project_id, "allowed_address_pairs": [],
            "port_security_enabled": True, "binding:vnic_type": "normal", "tags": [], "created_at": stamp,
            "updated_at": stamp, "revision_number": 1}
    cloud.ports[port["id"]] = port
    return port


def bind_port(port: dict, server_id: str) -> None:
    port.update(device_id=server_id, device_owner="compute:nova", status="ACTIVE", updated_at=now())


def unbind_port(port: dict) -> None:
    port.update(device_id="", device_owner="", status="DOWN", updated_at=now())


UPDATABLE_PORT_FIELDS = ("name", "description", "admin_state_up", "security_groups", "allowed_address_pairs",
                         "port_security_enabled", "qos_policy_id")


def routes(cloud: Cloud) -> list[web.RouteDef]:
    def listing(items: list[dict], request: web.Request, filters: tuple[str, ...]) -> list[dict]:
        """Neutron filters lists by any attribute given as a query parameter; the fake knows ``filters``."""
        for name in filters:
            if name in request.query:
                items = [item for item in items if str(item.get(name)) == request.query[name]]
        return items

    async def list_networks(request: web.Request) -> web.Response:
        return reply({"networks": listing(list(cloud.networks.values()), request, ("id", "name"))})

    async def show_network(request: web.Request) -> web.Response:
        return reply({"network": get_network(cloud, request.match_info["id"])})

    async def list_subnets(request: web.Request) -> web.Response:
        return reply({"subnets": listing(list(cloud.subnets.values()), request, ("id", "name", "network_id"))})

    async def show_subnet(request: web.Request) -> web.Response:
        subnet_id = request.match_info["id"]
        if subnet_id not in cloud.subnets:
            raise not_found(f"Subnet {subnet_id} could not be found.", "SubnetNotFound")
        return reply({"subnet": cloud.subnets[subnet_id]})

    async def list_ports(request: web.Request) -> web.Response:
        ports = listing(list(cloud.ports.values()), request, ("id", "name", "network_id", "device_id", "device_owner"))
        return reply({"ports": ports})

    async def post_port(request: web.Request) -> web.Response:
        spec = await body_of(request, "port")
        if not spec.get("network_id"):
            raise bad_request("Failed to parse request. Required attribute 'network_id' not specified")
        return reply({"port": create_port(cloud, spec)}, status=201)

    async def show_port(request: web.Request) -> web.Response:
        return reply({"port": get_port(cloud, request.match_info["id"])})

    async def put_port(request: web.Request) -> web.Response:
        port = get_port(cloud, request.match_info["id"])
        changes = await body_of(request, "port")
        unknown = sorted(set(changes) - set(UPDATABLE_PORT_FIELDS))
        if unknown:
            raise bad_request(f"Cannot update read-only attribute(s) {', '.join(unknown)}")
        if "security_groups" in changes:
            changes["security_groups"] = security_group_ids(cloud, changes["security_groups"])
        port.update(changes, updated_at=now(), revision_number=port["revision_number"] + 1)
        return reply({"port": port})

    async def delete_port(request: web.Request) -> web.Response:
        port = get_port(cloud, request.match_info["id"])
        server = cloud.servers.get(port["device_id"])
        if server is not None:
            server["port_ids"].remove(port["id"])
        del cloud.ports[port["id"]]
        return reply(None, status=204)

    async def list_security_groups(request: web.Request) -> web.Response:
        groups = listing(list(cloud.security_groups.values()), request, ("id", "name"))
        return reply({"security_groups": groups})

    async def post_security_group(request: web.Request) -> web.Response:
        spec = await body_of(request, "security_group")
        if not spec.get("name"):
            raise bad_request("Failed to parse request. Required attribute 'name' not specified")
        group = cloud.add_security_group(str(spec["name"]), str(spec.get("description", "")))
        return reply({"security_group": group}, status=201)

    async def delete_security_group(request: web.Request) -> web.Response:
        group_id = request.match_info["id"]
        if group_id not in cloud.security_groups:
            raise not_found(f"Security group {group_id} does not exist", "SecurityGroupNotFound")
        if any(group_id in port["security_groups"] for port in cloud.ports.values()):
            raise conflict(f"Security Group {group_id} in use.", "SecurityGroupInUse")
        del cloud.security_groups[group_id]
        return reply(None, status=204)

    prefix = "/network/v2.0"
    return [
        web.get(f"{prefix}/networks", list_networks), web.get(f"{prefix}/networks/{{id}}", show_network),
        web.get(f"{prefix}/subnets", list_subnets), web.get(f"{prefix}/subnets/{{id}}", show_subnet),
        web.get(f"{prefix}/ports", list_ports), web.post(f"{prefix}/ports", post_port),
        web.get(f"{prefix}/ports/{{id}}", show_port), web.put(f"{prefix}/ports/{{id}}", put_port),
        web.delete(f"{prefix}/ports/{{id}}", delete_port),
        web.get(f"{prefix}/security-groups", list_security_groups),
        web.post(f"{prefix}/security-groups", post_security_group),
        web.delete(f"{prefix}/security-groups/{{id}}", delete_security_group),
    ]

