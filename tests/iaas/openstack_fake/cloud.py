"""The emulated cloud's state: plain dicts shaped like the API's own records, kept in memory.

Only the server's event-loop thread touches it (every handler runs there), so it needs no lock.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .faults import Faults


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> str:
    """Timestamps as Nova and Cinder print them (ISO 8601, UTC, no fraction)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Credentials:
    """The one user the fake knows, scoped to one project, as Keystone v3 password auth names them."""

    username: str = "bosh"
    password: str = "fake-openstack-password"
    project: str = "bosh"
    domain: str = "Default"
    region: str = "RegionOne"


@dataclass
class Cloud:
    """Every resource by id. ``seed`` fills in what an operator creates before a deploy (flavors, an
    image, a network with a subnet, the default security group, a key pair)."""

    credentials: Credentials = field(default_factory=Credentials)
    project_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    availability_zones: tuple[str, ...] = ("nova",)
    tokens: set[str] = field(default_factory=set)
    flavors: dict[str, dict] = field(default_factory=dict)
    images: dict[str, dict] = field(default_factory=dict)
    keypairs: dict[str, dict] = field(default_factory=dict)
    networks: dict[str, dict] = field(default_factory=dict)
    subnets: dict[str, dict] = field(default_factory=dict)
    ports: dict[str, dict] = field(default_factory=dict)
    security_groups: dict[str, dict] = field(default_factory=dict)
    servers: dict[str, dict] = field(default_factory=dict)
    volumes: dict[str, dict] = field(default_factory=dict)
    snapshots: dict[str, dict] = field(default_factory=dict)
    quota_instances: int | None = None  # a number makes the next create past it fail as Nova does (403)
    faults: Faults = field(default_factory=Faults)  # armed through the admin API (admin.py)
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)

    def add_flavor(self, name: str, vcpus: int, ram: int, disk: int, flavor_id: str | None = None) -> dict:
        flavor = {"id": flavor_id or new_id(), "name": name, "vcpus": vcpus, "ram": ram, "disk": disk, "swap": "",
                  "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False, "rxtx_factor": 1.0,
                  "os-flavor-access:is_public": True}
        self.flavors[flavor["id"]] = flavor
        return flavor

    def add_image(self, name: str, status: str = "active") -> dict:
        stamp = now()
        image = {"id": new_id(), "name": name, "status": status, "visibility": "public", "container_format": "bare",
                 "disk_format": "qcow2", "min_disk": 0, "min_ram": 0, "size": 1 << 30, "created_at": stamp,
                 "updated_at": stamp, "owner": self.project_id, "tags": [], "protected": False}
        self.images[image["id"]] = image
        return image

    def add_keypair(self, name: str, public_key: str) -> dict:
        keypair = {"name": name, "public_key": public_key, "fingerprint": f"fake:{uuid.uuid4().hex[:16]}",
                   "type": "ssh", "user_id": self.user_id}
        self.keypairs[name] = keypair
        return keypair

    def add_security_group(self, name: str, description: str = "") -> dict:
        group = {"id": new_id(), "name": name, "description": description, "tenant_id": self.project_id,
                 "project_id": self.project_id, "security_group_rules": [], "tags": []}
        self.security_groups[group["id"]] = group
        return group

    def add_network(self, name: str, cidr: str, gateway_ip: str | None = None) -> tuple[dict, dict]:
        """A network with one IPv4 subnet whose allocation pool is every host address but the gateway."""
        net = ipaddress.ip_network(cidr)
        hosts = list(net.hosts())
        gateway = gateway_ip or str(hosts[0])
        pool_hosts = [host for host in hosts if str(host) != gateway]
        network = {"id": new_id(), "name": name, "status": "ACTIVE", "admin_state_up": True, "shared": False,
                   "router:external": False, "subnets": [], "tenant_id": self.project_id,
                   "project_id": self.project_id, "mtu": 1500, "tags": [], "description": ""}
        subnet = {"id": new_id(), "name": f"{name}-subnet", "network_id": network["id"], "ip_version": 4,
                  "cidr": str(net), "gateway_ip": gateway, "enable_dhcp": True, "dns_nameservers": [],
                  "host_routes": [], "tenant_id": self.project_id, "project_id": self.project_id,
                  "allocation_pools": [{"start": str(pool_hosts[0]), "end": str(pool_hosts[-1])}]}
        network["subnets"].append(subnet["id"])
        self.networks[network["id"]] = network
        self.subnets[subnet["id"]] = subnet
        return network, subnet

    def seed(self) -> None:
        self.add_flavor("m1.small", vcpus=1, ram=2048, disk=20, flavor_id="2")
        self.add_flavor("m1.medium", vcpus=2, ram=4096, disk=40, flavor_id="3")
        self.add_image("bosh-stemcell-ubuntu-jammy")
        self.add_network("private", "10.0.0.0/24")
        self.add_security_group("default", "Default security group")
        self.add_keypair("bosh", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFake bosh")
