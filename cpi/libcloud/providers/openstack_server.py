"""The Nova server-create request a VmSpec becomes: flavor, image, zone, key, security groups, NICs,
config drive, user data and metadata.

The user data is the same ``#cloud-config`` document EC2 gets (``user_data.cloud_config``): on a
stock image cloud-init installs the director's pinned host key from it, whether it reads the
metadata service or the config drive (Nova writes the same user data to the drive's
``openstack/latest/user_data``). Disks are virtio: the root disk is ``/dev/vda`` and, only when the
flavor has an ephemeral disk, that disk is ``/dev/vdb`` (as BOSH's OpenStack CPI says it; without
one the agent puts its ephemeral data on the root disk).

Everything that needs no API call is checked first, so a bad manifest fails before the cloud is
asked anything. libcloud's create_node cannot ask for a fixed IP, so the body is built with the
driver's own request builder and Nova's ``networks: [{uuid, fixed_ip}]`` is set on it.
Security groups are resolved through Neutron by id or by name and sent as ids, which Nova
accepts in place of names and which, unlike names, cannot be ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from libcloud.compute.base import NodeImage, NodeSize

from cpi.libcloud import user_data
from cpi.libcloud.errors import InvalidCall, VMCreationFailed
from cpi.libcloud.provider import VmSpec
from cpi.libcloud.providers.openstack_api import OpenStackApi
from cpi.libcloud.providers.openstack_flavors import Flavor, flavor_id, flavors_from
from cpi.libcloud.providers.openstack_networks import Nic, nics_for

CONFIG_DRIVE_WORDS = {True: True, False: False, "cdrom": True, "disk": True}


def config_drive_from(value: object, where: str) -> bool:
    """``true``/``false``; BOSH's ``cdrom``/``disk`` (the drive's device type) also ask for one."""
    if value is None:
        return False
    if isinstance(value, (bool, str)) and value in CONFIG_DRIVE_WORDS:
        return CONFIG_DRIVE_WORDS[value]
    raise InvalidCall(f"{where}: {value!r} is not one of true, false, \"cdrom\", \"disk\"")


@dataclass(frozen=True)
class ServerDefaults:
    """What the CPI config gives every VM unless its cloud_properties say otherwise."""

    key_name: str | None = None
    security_groups: list[str] = field(default_factory=list)
    config_drive: bool = False

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ServerDefaults:
        groups = settings.get("default_security_groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise InvalidCall("CPI config openstack.default_security_groups: a list of security group "
                              "names or ids is required")
        return cls(settings.get("default_key_name"), list(groups),
                   config_drive_from(settings.get("config_drive"), "CPI config openstack.config_drive"))


@dataclass(frozen=True)
class ServerRequest:
    body: dict[str, Any]
    nics: list[Nic]


def server_request(api: OpenStackApi, spec: VmSpec, defaults: ServerDefaults) -> ServerRequest:
    props = spec.cloud_properties
    flavor = props.get("flavor") or props.get("instance_type")
    if not isinstance(flavor, str) or not flavor:
        raise InvalidCall("create_vm: cloud_properties.flavor is required")
    nics = nics_for(spec.networks, props.get("net_id"))
    config_drive = defaults.config_drive
    if "config_drive" in props:
        config_drive = config_drive_from(props["config_drive"], "create_vm: cloud_properties.config_drive")
    groups = props.get("security_groups") or defaults.security_groups
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise InvalidCall("create_vm: cloud_properties.security_groups must be a list of names or ids")

    zone = availability_zone(api, props.get("availability_zone"), spec.disk_cids)
    group_ids = security_group_ids(api, groups)
    flavors = flavors_from(api.nova("/flavors/detail")["flavors"])
    body: dict[str, Any] = api.driver._create_args_to_params(  # the driver's own builder
        None, name=f"vm-{spec.agent_id}",
        size=NodeSize(flavor, flavor, 0, 0, None, None, api.driver),
        image=NodeImage(spec.stemcell_cid, spec.stemcell_cid, api.driver),
        ex_availability_zone=zone, ex_keyname=props.get("key_name") or defaults.key_name,
        ex_userdata=user_data.cloud_config_from(spec.user_data, disks=agent_disks(flavors, flavor)),
        ex_metadata={"agent_id": spec.agent_id})
    body["flavorRef"] = flavor_id(flavors, flavor) or flavor  # unknown: Nova's answer names it
    body["networks"] = [nic.as_nova() for nic in nics]
    if group_ids:
        body["security_groups"] = [{"name": group_id} for group_id in group_ids]
    if config_drive:
        body["config_drive"] = True
    return ServerRequest(body, nics)


def agent_disks(flavors: list[Flavor], wanted: str) -> dict[str, Any]:
    """Where the agent finds the root and ephemeral disks on a server of flavor ``wanted``."""
    disks: dict[str, Any] = {"system": "/dev/vda", "persistent": {}}
    flavor = next((f for f in flavors if wanted in (f.name, f.id)), None)
    if flavor is not None and flavor.ephemeral_gib > 0:
        disks["ephemeral"] = "/dev/vdb"
    return disks


def security_group_ids(api: OpenStackApi, wanted: list[str]) -> list[str]:
    """Each group named by id or by name, as its id; unknown or ambiguous names fail the create."""
    if not wanted:
        return []
    groups = api.neutron("/security-groups")["security_groups"]
    ids = []
    for name in wanted:
        by_id = [g["id"] for g in groups if g["id"] == name]
        by_name = [g["id"] for g in groups if g.get("name") == name]
        if by_id or len(by_name) == 1:
            ids.append((by_id or by_name)[0])
        elif by_name:
            raise VMCreationFailed(f"create_vm: security group name {name!r} matches {len(by_name)} groups "
                                   f"({', '.join(sorted(by_name))}); name it by id")
        else:
            raise VMCreationFailed(f"create_vm: security group {name!r} does not exist (neither a name nor "
                                   "an id Neutron knows)")
    return ids


def availability_zone(api: OpenStackApi, wanted: object, disk_cids: list[str]) -> str | None:
    """Disk locality: the VM goes where its persistent disks are; a zone named in cloud_properties
    must agree with them, or the disks could never be attached."""
    disk_zones = {str(api.volume(cid).extra.get("location")) for cid in disk_cids}
    if len(disk_zones) > 1:
        raise VMCreationFailed(f"create_vm: disks {', '.join(disk_cids)} are in different availability "
                               f"zones ({', '.join(sorted(disk_zones))}); a VM can reach only one")
    if wanted is not None and not isinstance(wanted, str):
        raise InvalidCall("create_vm: cloud_properties.availability_zone must be a string")
    if wanted and disk_zones and wanted not in disk_zones:
        raise VMCreationFailed(f"create_vm: cloud_properties.availability_zone {wanted!r} differs from "
                               f"the zone of disk {disk_cids[0]} ({next(iter(disk_zones))})")
    return wanted or next(iter(disk_zones), None)
