"""Nova (compute v2.1): servers (create, show, list, delete, reboot/start/stop, metadata), volume
attachments, interfaces, flavors, key pairs. A server create checks every reference first and
rolls back any port it made if a later step fails, so a failed create leaves nothing behind."""

from __future__ import annotations

import base64
import binascii
import re

from aiohttp import web

from . import cinder, neutron
from .bodies import body_of, reply
from .cloud import Cloud, new_id, now
from .errors import ApiError, bad_request, conflict, not_found

DEVICE_PATH = re.compile(r"^/dev/[sv]d[b-z]$")
MAX_USER_DATA = 65535
VM_STATES = {"ACTIVE": "active", "SHUTOFF": "stopped", "BUILD": "building", "ERROR": "error"}
# What Nova's API schema (parameter_types.boolean) accepts for a boolean such as config_drive.
TRUE_WORDS = ("true", "1", "on", "yes")
FALSE_WORDS = ("false", "0", "off", "no", "")


def get_server(cloud: Cloud, server_id: str) -> dict:
    if server_id not in cloud.servers:
        raise not_found(f"Instance {server_id} could not be found.")
    return cloud.servers[server_id]


def server_view(cloud: Cloud, server: dict, base_url: str) -> dict:
    """The server as ``GET /servers/{id}`` shows it, addresses read from its Neutron ports."""
    addresses: dict[str, list[dict]] = {}
    for port_id in server["port_ids"]:
        port = cloud.ports[port_id]
        network = cloud.networks[port["network_id"]]
        for ip in port["fixed_ips"]:
            addresses.setdefault(network["name"], []).append(
                {"addr": ip["ip_address"], "version": 4, "OS-EXT-IPS:type": "fixed",
                 "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    href = f"{base_url}/compute/v2.1/servers/{server['id']}"
    return {
        "id": server["id"], "name": server["name"], "status": server["status"], "tenant_id": cloud.project_id,
        "user_id": cloud.user_id, "metadata": server["metadata"], "hostId": server["host_id"],
        "image": {"id": server["image_id"]}, "flavor": {"id": server["flavor_id"]},
        "created": server["created"], "updated": server["updated"], "addresses": addresses,
        "accessIPv4": "", "accessIPv6": "", "links": [{"rel": "self", "href": href}, {"rel": "bookmark",
                                                                                  "href": href}],
        "key_name": server["key_name"], "config_drive": "True" if server["config_drive"] else "", "progress": 0,
        "OS-DCF:diskConfig": "MANUAL", "OS-EXT-AZ:availability_zone": server["availability_zone"],
        "OS-EXT-STS:vm_state": VM_STATES[server["status"]],
        "OS-EXT-STS:power_state": 1 if server["status"] == "ACTIVE" else 4 if server["status"] == "SHUTOFF" else 0,
        "OS-EXT-STS:task_state": "spawning" if server["status"] == "BUILD" else None,
        "OS-EXT-SRV-ATTR:user_data": server["user_data"],
        "os-extended-volumes:volumes_attached": [{"id": volume_id} for volume_id in server["volumes"]],
        "security_groups": [{"name": cloud.security_groups[group_id]["name"]} for group_id in server["groups"]
                            if group_id in cloud.security_groups],
        **({"fault": server["fault"]} if server.get("fault") else {}),
    }


def advance_boot(server: dict) -> None:
    """A server that stays in BUILD (an armed boot outcome) gets one read closer to its outcome."""
    boot = server.get("boot")
    if boot is None or server["status"] != "BUILD":
        return
    if boot.build_polls > 0:
        boot.build_polls -= 1
        return
    server.update(status=boot.status, updated=now())
    if boot.status == "ERROR":
        server["fault"] = {"code": boot.fault_code, "message": boot.fault_message, "created": now()}


def attachment_view(server: dict, volume_id: str) -> dict:
    return {"id": volume_id, "serverId": server["id"], "volumeId": volume_id, "device": server["volumes"][volume_id]}


def checked_user_data(value: object) -> str | None:
    if value is None:
        return None
    try:
        base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("User data needs to be valid base 64.") from None
    if len(str(value)) > MAX_USER_DATA:
        raise bad_request(f"User data too large. User data must be no larger than {MAX_USER_DATA} bytes once "
                          f"base64 encoded.")
    return str(value)


def requested_nics(cloud: Cloud, networks: object) -> list[dict]:
    """Check the ``networks`` of a create request without changing anything; each result names a port
    to bind (``port``) or a network to make a port on (``network_id`` and optional ``fixed_ip``)."""
    if networks in (None, "auto"):
        if len(cloud.networks) > 1:
            raise conflict("Multiple possible networks found, use a Network ID to be more specific.")
        return [{"network_id": network_id} for network_id in cloud.networks]
    if networks == "none":
        return []
    if not isinstance(networks, list):
        raise bad_request("Invalid input for field/attribute networks. Value: must be a list, 'auto' or 'none'.")
    nics: list[dict] = []
    for entry in networks:
        if not isinstance(entry, dict):
            raise bad_request("Invalid input for field/attribute networks: each entry must be an object.")
        if entry.get("port"):
            port = cloud.ports.get(entry["port"])
            if port is None:
                raise bad_request(f"Port id {entry['port']} could not be found.")
            if port["device_id"]:
                raise conflict(f"Port {entry['port']} is still in use.")
            nics.append({"port": port["id"]})
            continue
        network = cloud.networks.get(str(entry.get("uuid", "")))
        if network is None:
            raise bad_request(f"Network {entry.get('uuid')} could not be found.")
        nic = {"network_id": network["id"]}
        if entry.get("fixed_ip"):
            try:
                neutron.check_fixed_ip(cloud, network, entry["fixed_ip"])
            except ApiError as error:
                if error.status == 409:
                    raise bad_request(f"Fixed IP address {entry['fixed_ip']} is already in use on instance.") \
                        from None
                raise bad_request(f"Invalid fixed IP address ({entry['fixed_ip']})") from None
            if any(other.get("fixed_ip") == entry["fixed_ip"] for other in nics):
                raise bad_request(f"Fixed IP address {entry['fixed_ip']} is requested twice.")
            nic["fixed_ip"] = entry["fixed_ip"]
        nics.append(nic)
    return nics


def validate_create(cloud: Cloud, spec: dict) -> dict:
    """Every check Nova makes before it schedules the server, as 400/403/409 errors."""
    if not isinstance(spec.get("name"), str) or not spec["name"].strip():
        raise bad_request("Invalid input for field/attribute name. Value: must be a non-empty string.")
    flavor_id = str(spec.get("flavorRef", ""))
    if flavor_id not in cloud.flavors:
        raise bad_request(f"Flavor {flavor_id} could not be found.")
    image_id = str(spec.get("imageRef", ""))
    if image_id not in cloud.images:
        raise bad_request(f"Image {image_id} could not be found.")
    if cloud.images[image_id]["status"] != "active":
        raise bad_request(f"Image {image_id} is not active.")
    zone = spec.get("availability_zone") or cloud.availability_zones[0]
    if zone not in cloud.availability_zones:
        raise bad_request("The requested availability zone is not available")
    if spec.get("key_name") is not None and spec["key_name"] not in cloud.keypairs:
        raise bad_request("Invalid key_name provided.")
    group_names = [group.get("name") for group in spec.get("security_groups") or [{"name": "default"}]]
    groups = []
    for name in group_names:
        match = [g["id"] for g in cloud.security_groups.values() if name in (g["name"], g["id"])]
        if not match:
            raise bad_request(f"Security group {name} not found for project {cloud.project_id}.")
        groups.append(match[0])
    metadata = spec.get("metadata") or {}
    try:
        metadata = cinder.string_metadata(metadata)
    except ApiError:
        raise bad_request("Invalid input for field/attribute metadata: values must be strings of at most 255 "
                          "characters.") from None
    if cloud.quota_instances is not None and len(cloud.servers) >= cloud.quota_instances:
        raise ApiError(403, f"Quota exceeded for instances: Requested 1, but already used {len(cloud.servers)} of "
                            f"{cloud.quota_instances} instances")
    return {"name": spec["name"], "flavor_id": flavor_id, "image_id": image_id, "availability_zone": zone,
            "key_name": spec.get("key_name"), "groups": groups, "metadata": metadata,
            "user_data": checked_user_data(spec.get("user_data")), "nics": requested_nics(cloud, spec.get("networks")),
            "config_drive": checked_config_drive(spec.get("config_drive", False))}


def checked_config_drive(value: object) -> bool:
    word = str(value).lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise bad_request(f"Invalid input for field/attribute config_drive. Value: {value}. {value!r} is not "
                          f"of type 'boolean', 'string'")
    return word in TRUE_WORDS


def build_server(cloud: Cloud, plan: dict) -> dict:
    """Make the server's ports, then the server; on any failure remove the ports made so far."""
    server_id = new_id()
    made: list[str] = []
    try:
        port_ids = []
        for nic in plan["nics"]:
            if "port" in nic:
                neutron.bind_port(cloud.ports[nic["port"]], server_id)
                port_ids.append(nic["port"])
                continue
            fixed = [{"ip_address": nic["fixed_ip"]}] if nic.get("fixed_ip") else []
            port = neutron.create_port(cloud, {"network_id": nic["network_id"], "fixed_ips": fixed,
                                               "security_groups": plan["groups"]}, server_id, "compute:nova")
            made.append(port["id"])
            port_ids.append(port["id"])
    except ApiError:
        for port_id in made:
            cloud.ports.pop(port_id, None)
        for nic in plan["nics"]:
            if "port" in nic and cloud.ports[nic["port"]]["device_id"] == server_id:
                neutron.unbind_port(cloud.ports[nic["port"]])
        raise
    stamp = now()
    boot = cloud.faults.take_boot_outcome()
    server = {"id": server_id, "status": "ACTIVE" if boot is None else "BUILD", "host_id": new_id().replace("-", ""),
              "created": stamp, "updated": stamp, "port_ids": port_ids, "created_ports": made, "volumes": {},
              "reboots": 0, "boot": boot, **{key: value for key, value in plan.items() if key != "nics"}}
    cloud.servers[server_id] = server
    return server


def delete_server(cloud: Cloud, server: dict) -> None:
    """Ports Nova made go with the server (unless an armed boot outcome leaks them); ports the user made
    are unbound; volumes are detached."""
    leak = server["boot"] is not None and server["boot"].leak_ports
    for port_id in server["port_ids"]:
        if leak and port_id in server["created_ports"]:
            continue
        if port_id in server["created_ports"]:
            del cloud.ports[port_id]
        else:
            neutron.unbind_port(cloud.ports[port_id])
    for volume_id in server["volumes"]:
        if volume_id in cloud.volumes:
            cinder.mark_detached(cloud.volumes[volume_id])
    del cloud.servers[server["id"]]


def routes(cloud: Cloud, base_url: str) -> list[web.RouteDef]:
    def view(server: dict) -> dict:
        return server_view(cloud, server, base_url)

    async def list_servers(request: web.Request) -> web.Response:
        for server in cloud.servers.values():
            advance_boot(server)
        servers = [view(server) for server in cloud.servers.values()]
        if not request.path.endswith("/detail"):
            servers = [{"id": s["id"], "name": s["name"], "links": s["links"]} for s in servers]
        return reply({"servers": servers})

    async def post_server(request: web.Request) -> web.Response:
        server = build_server(cloud, validate_create(cloud, await body_of(request, "server")))
        links = view(server)["links"]
        return reply({"server": {"id": server["id"], "links": links, "OS-DCF:diskConfig": "MANUAL",
                                 "security_groups": view(server)["security_groups"]}}, status=202)

    async def show_server(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        advance_boot(server)
        return reply({"server": view(server)})

    async def remove_server(request: web.Request) -> web.Response:
        delete_server(cloud, get_server(cloud, request.match_info["id"]))
        return reply(None, status=204)

    async def server_action(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        try:
            action = await request.json()
        except ValueError:
            raise bad_request("Malformed request body") from None
        if not isinstance(action, dict) or len(action) != 1:
            raise bad_request("Malformed request body: expected exactly one action.")
        name = next(iter(action))
        if name == "reboot":
            reboot_type = (action["reboot"] or {}).get("type") if isinstance(action["reboot"], dict) else None
            if reboot_type not in ("SOFT", "HARD"):
                raise bad_request("Invalid input for field/attribute type. Value: must be 'SOFT' or 'HARD'.")
            server["reboots"] += 1
            server.update(status="ACTIVE", updated=now())
        elif name in ("os-start", "os-stop"):
            wanted, before = ("ACTIVE", "SHUTOFF") if name == "os-start" else ("SHUTOFF", "ACTIVE")
            if server["status"] != before:
                raise conflict(f"Cannot '{name[3:]}' instance {server['id']} while it is in vm_state "
                               f"{server['status'].lower()}")
            server.update(status=wanted, updated=now())
        else:
            raise bad_request(f"There is no such action: {name}")
        return reply(None, status=202)

    async def server_metadata(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        if request.method == "GET":
            return reply({"metadata": server["metadata"]})
        try:
            data = cinder.string_metadata(await body_of(request, "metadata"))
        except ApiError as error:
            raise bad_request(f"Invalid metadata: {error.message}") from None
        server["metadata"] = data if request.method == "PUT" else {**server["metadata"], **data}
        server["updated"] = now()
        return reply({"metadata": server["metadata"]})

    async def list_attachments(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        return reply({"volumeAttachments": [attachment_view(server, v) for v in server["volumes"]]})

    async def attach_volume(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        spec = await body_of(request, "volumeAttachment")
        volume = cinder.get_volume(cloud, str(spec.get("volumeId", "")))
        used = set(server["volumes"].values())
        device = spec.get("device")
        if device:
            if not DEVICE_PATH.match(str(device)):
                raise bad_request(f"The supplied device path ({device}) is invalid.")
            if device in used:
                raise bad_request(f"The supplied device path ({device}) is in use.")
        else:
            free = [f"/dev/vd{letter}" for letter in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{letter}" not in used]
            if not free:
                raise ApiError(403, f"Maximum number of volumes reached for instance {server['id']}.")
            device = free[0]
        if volume["availability_zone"] != server["availability_zone"]:
            raise bad_request(f"Server and volume not in same availability zone: {server['availability_zone']} != "
                              f"{volume['availability_zone']}")
        cinder.mark_attached(volume, server["id"], device)
        server["volumes"][volume["id"]] = device
        return reply({"volumeAttachment": attachment_view(server, volume["id"])})

    async def show_attachment(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        volume_id = request.match_info["volume_id"]
        if volume_id not in server["volumes"]:
            raise not_found(f"Volume {volume_id} is not attached to {server['id']}")
        return reply({"volumeAttachment": attachment_view(server, volume_id)})

    async def detach_volume(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        volume_id = request.match_info["volume_id"]
        if volume_id not in server["volumes"]:
            raise not_found(f"Volume {volume_id} is not attached to {server['id']}")
        del server["volumes"][volume_id]
        cinder.mark_detached(cloud.volumes[volume_id])
        return reply(None, status=202)

    async def list_interfaces(request: web.Request) -> web.Response:
        server = get_server(cloud, request.match_info["id"])
        interfaces = [{"port_id": p["id"], "net_id": p["network_id"], "fixed_ips": p["fixed_ips"],
                       "mac_addr": p["mac_address"], "port_state": p["status"]}
                      for p in (cloud.ports[port_id] for port_id in server["port_ids"])]
        return reply({"interfaceAttachments": interfaces})

    async def list_flavors(request: web.Request) -> web.Response:
        return reply({"flavors": list(cloud.flavors.values())})

    async def show_flavor(request: web.Request) -> web.Response:
        flavor_id = request.match_info["id"]
        if flavor_id not in cloud.flavors:
            raise not_found(f"Flavor {flavor_id} could not be found.")
        return reply({"flavor": cloud.flavors[flavor_id]})

    async def list_keypairs(request: web.Request) -> web.Response:
        return reply({"keypairs": [{"keypair": keypair} for keypair in cloud.keypairs.values()]})

    async def post_keypair(request: web.Request) -> web.Response:
        spec = await body_of(request, "keypair")
        name = spec.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[\w. @-]{1,255}", name):
            raise bad_request("Keypair data is invalid: Keypair name contains unsafe characters")
        if name in cloud.keypairs:
            raise conflict(f"Key pair '{name}' already exists.")
        if not isinstance(spec.get("public_key"), str) or not spec["public_key"].startswith(("ssh-", "ecdsa-")):
            raise bad_request("Keypair data is invalid: failed to generate fingerprint")
        return reply({"keypair": cloud.add_keypair(name, spec["public_key"])})

    async def show_keypair(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in cloud.keypairs:
            raise not_found(f"Keypair {name} not found for user {cloud.user_id}")
        if request.method == "DELETE":
            del cloud.keypairs[name]
            return reply(None, status=202)
        return reply({"keypair": cloud.keypairs[name]})

    async def availability_zones(request: web.Request) -> web.Response:
        return reply({"availabilityZoneInfo": [{"zoneName": zone, "zoneState": {"available": True}, "hosts": None}
                                               for zone in cloud.availability_zones]})

    prefix = "/compute/v2.1"
    servers = f"{prefix}/servers/{{id}}"
    return [
        web.get(f"{prefix}/servers", list_servers), web.get(f"{prefix}/servers/detail", list_servers),
        web.post(f"{prefix}/servers", post_server), web.get(servers, show_server),
        web.delete(servers, remove_server), web.post(f"{servers}/action", server_action),
        web.get(f"{servers}/metadata", server_metadata), web.put(f"{servers}/metadata", server_metadata),
        web.post(f"{servers}/metadata", server_metadata),
        web.get(f"{servers}/os-volume_attachments", list_attachments),
        web.post(f"{servers}/os-volume_attachments", attach_volume),
        web.get(f"{servers}/os-volume_attachments/{{volume_id}}", show_attachment),
        web.delete(f"{servers}/os-volume_attachments/{{volume_id}}", detach_volume),
        web.get(f"{servers}/os-interface", list_interfaces),
        web.get(f"{prefix}/flavors", list_flavors), web.get(f"{prefix}/flavors/detail", list_flavors),
        web.get(f"{prefix}/flavors/{{id}}", show_flavor),
        web.get(f"{prefix}/os-keypairs", list_keypairs), web.post(f"{prefix}/os-keypairs", post_keypair),
        web.get(f"{prefix}/os-keypairs/{{name}}", show_keypair),
        web.delete(f"{prefix}/os-keypairs/{{name}}", show_keypair),
        web.get(f"{prefix}/os-availability-zone", availability_zones),
    ]
