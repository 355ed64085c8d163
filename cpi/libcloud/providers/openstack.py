"""The OpenStack provider: each CPI verb as Nova, Cinder and Neutron calls through libcloud's
OpenStack_2_NodeDriver (Keystone v3 password auth, project-scoped).

libcloud's create_node cannot ask for a fixed IP, so a server is posted through the driver's
own authenticated connection with Nova's ``networks: [{uuid, fixed_ip}]``, built from the
driver's own request builder. libcloud's detach_volume trusts the attachments cached on the
volume object, so a volume is always re-read before a detach. Disk hints are re-read from
the attachment after attaching (Nova on libvirt may ignore a requested device).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from libcloud.compute.base import Node, NodeImage, NodeSize, StorageVolume
from libcloud.compute.drivers.openstack import OpenStackSecurityGroup
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider as LibcloudProvider

from cpi.libcloud.errors import (
    CloudError,
    DiskNotFound,
    InvalidCall,
    NotImplementedFailure,
    VMCreationFailed,
    VMNotFound,
)
from cpi.libcloud.provider import VmSpec
from cpi.libcloud.providers import openstack_errors
from cpi.libcloud.providers.common import ApiErrors, call_api, primary_network, required_setting

REQUIRED = ("auth_url", "username", "password", "project", "domain", "region")
GONE_STATES = ("DELETED", "SOFT_DELETED")


class OpenStackError(CloudError):
    """An OpenStack error answer; ``status`` is its HTTP status."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"OpenStack: {message}")
        self.status = status


def make_driver(settings: dict[str, Any]) -> Any:
    """libcloud's OpenStack v2 driver; every identity field is required, nothing defaults."""
    if "project" not in settings and "tenant" in settings:  # Keystone v2's name for it
        settings = {**settings, "project": settings["tenant"]}
    values = {key: required_setting(settings, "openstack", key) for key in REQUIRED}
    parts = urlsplit(values["auth_url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCall(f"CPI config openstack.auth_url {values['auth_url']!r}: "
                          "an http(s):// Keystone URL is required")
    driver_class = get_driver(LibcloudProvider.OPENSTACK)
    return driver_class(values["username"], values["password"], ex_tenant_name=values["project"],
                        ex_domain_name=values["domain"], ex_force_auth_url=values["auth_url"],
                        ex_force_auth_version="3.x_password", api_version="2.0",
                        ex_force_service_region=values["region"])


def _as_openstack_error(error: Exception) -> OpenStackError | None:
    if not type(error).__module__.startswith("libcloud"):
        return None
    return OpenStackError(openstack_errors.status_of(error), openstack_errors.describe(error))


OPENSTACK_ERRORS = ApiErrors(openstack_errors.is_throttled, openstack_errors.is_credentials,
                             openstack_errors.describe, _as_openstack_error,
                             "openstack.username / password / project / domain")


class OpenStackProvider:
    stemcell_formats = ("openstack-light",)

    def __init__(self, settings: dict[str, Any], log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.driver = make_driver(settings)
        self.endpoint = f"OpenStack at {settings['auth_url']}"
        self.default_key_name: str | None = settings.get("default_key_name")
        self.default_security_groups: list[str] = list(settings.get("default_security_groups") or [])
        self.log = log
        self.sleep = sleep

    # --- the one way to OpenStack --------------------------------------------------------

    def _call(self, action: Callable[[], Any]) -> Any:
        """Run one driver call with throttling retried; API errors become ``OpenStackError``."""
        return call_api(action, OPENSTACK_ERRORS, self.endpoint, self.log, self.sleep)

    # --- lookups -------------------------------------------------------------------------

    def _server(self, vm_cid: str) -> Node:
        node = self._call(lambda: self.driver.ex_get_node_details(vm_cid))  # None on 404
        if node is None or node.extra.get("vm_state") == "deleted" or \
                str(node.extra.get("status", "")).upper() in GONE_STATES:
            raise VMNotFound(f"VM {vm_cid} not found")
        return node

    def _volume(self, disk_cid: str) -> StorageVolume:
        try:
            return self._call(lambda: self.driver.ex_get_volume(disk_cid))
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise

    @staticmethod
    def _holders(volume: StorageVolume) -> list[str]:
        return [a.get("server_id") or a.get("serverId") for a in volume.extra.get("attachments") or []]

    # --- stemcells (light: an existing Glance image) ---------------------------------------

    def create_stemcell(self, cloud_properties: dict[str, Any]) -> str:
        """A light stemcell names an existing Glance image; check it is there."""
        image = cloud_properties.get("image_id")
        if not isinstance(image, str) or not image:
            raise CloudError("light stemcell: cloud_properties.image_id (a Glance image id) "
                             "is required")
        try:
            self._call(lambda: self.driver.get_image(image))
        except OpenStackError as error:
            raise CloudError(f"light stemcell image {image} is not available: {error}") from error
        return image

    def delete_stemcell(self, stemcell_cid: str) -> None:
        self.log(f"light stemcell {stemcell_cid}: the Glance image is the operator's, left in place")

    # --- VMs -----------------------------------------------------------------------------

    def create_vm(self, spec: VmSpec) -> tuple[str, dict[str, Any]]:
        """Nova checks flavor, image, zone, key, groups and networks before it makes anything;
        a server that exists but fails afterwards is deleted before the error is answered."""
        body = self._server_body(spec)
        try:
            created = self._call(lambda: self.driver.connection.request(
                "/servers", method="POST", data={"server": body}).object["server"])
        except OpenStackError as error:
            raise VMCreationFailed(f"create_vm for agent {spec.agent_id}: {error}",
                                   ok_to_retry=openstack_errors.is_capacity(error.__cause__ or error)
                                   ) from error
        vm_cid = str(created["id"])
        try:
            node = self._server(vm_cid)
            return vm_cid, _networks_with_ips(spec.networks, node)
        except Exception as error:
            self.log(f"create_vm: {vm_cid} did not come up; deleting it")
            cleanup = "deleted it"
            try:
                self._call(lambda: self.driver.destroy_node(
                    Node(vm_cid, "", None, [], [], self.driver)))
            except CloudError as failure:
                cleanup = f"and could not delete it, delete it by hand: {failure}"
            raise VMCreationFailed(f"create_vm: server {vm_cid} failed to start, "
                                   f"{cleanup}: {error}") from error

    def _server_body(self, spec: VmSpec) -> dict[str, Any]:
        props = spec.cloud_properties
        flavor = props.get("flavor") or props.get("instance_type")
        if not isinstance(flavor, str) or not flavor:
            raise InvalidCall("create_vm: cloud_properties.flavor is required")
        network = primary_network(spec.networks)
        net_id = (network.get("cloud_properties") or {}).get("net_id") or props.get("net_id")
        if not net_id:
            raise InvalidCall("create_vm: the network's cloud_properties.net_id (a Neutron "
                              "network id) is required")
        nic: dict[str, str] = {"uuid": str(net_id)}
        if network.get("type", "manual") == "manual" and network.get("ip"):
            nic["fixed_ip"] = str(network["ip"])
        groups = [OpenStackSecurityGroup(id=None, tenant_id=None, name=str(name), description="",
                                         driver=self.driver)
                  for name in props.get("security_groups") or self.default_security_groups]
        zone = props.get("availability_zone") or self._zone_of_disks(spec.disk_cids)
        body: dict[str, Any] = self.driver._create_args_to_params(  # the driver's own builder
            None, name=f"vm-{spec.agent_id}",
            size=NodeSize(flavor, flavor, 0, 0, None, None, self.driver),
            image=NodeImage(spec.stemcell_cid, spec.stemcell_cid, self.driver),
            ex_availability_zone=zone, ex_keyname=props.get("key_name") or self.default_key_name,
            ex_userdata=spec.user_data, ex_security_groups=groups,
            ex_metadata={"agent_id": spec.agent_id})
        body["flavorRef"] = self._flavor_id(flavor)
        body["networks"] = [nic]
        return body

    def _flavor_id(self, flavor: str) -> str:
        """Operators name flavors (``m1.small``); Nova wants the id. An unknown name is sent
        as it is, so Nova's own answer names it."""
        sizes = self._call(self.driver.list_sizes)
        return next((str(s.id) for s in sizes if flavor in (s.name, str(s.id))), flavor)

    def _zone_of_disks(self, disk_cids: list[str]) -> str | None:
        """Disk locality: put the VM where its persistent disk already is."""
        for disk_cid in disk_cids:
            return self._volume(disk_cid).extra.get("location")
        return None

    def delete_vm(self, vm_cid: str) -> None:
        node = self._server(vm_cid)
        try:
            self._call(lambda: self.driver.destroy_node(node))
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                raise VMNotFound(f"VM {vm_cid} not found") from error
            raise

    def has_vm(self, vm_cid: str) -> bool:
        try:
            self._server(vm_cid)
        except VMNotFound:
            return False
        return True

    def reboot_vm(self, vm_cid: str) -> None:
        node = self._server(vm_cid)
        self._call(lambda: self.driver.reboot_node(node))

    def set_vm_metadata(self, vm_cid: str, metadata: dict[str, str]) -> None:
        """Nova metadata, merged into what the server has (its agent_id stays)."""
        node = self._server(vm_cid)
        items = dict(metadata)
        if "name" not in items and "job" in metadata and "index" in metadata:
            items["name"] = f"{metadata['job']}/{metadata['index']}"
        self._call(lambda: self.driver.connection.request(
            f"/servers/{node.id}/metadata", method="POST", data={"metadata": items}))

    def calculate_vm_cloud_properties(self, requirements: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedFailure("openstack provider: calculate_vm_cloud_properties is not "
                                    "implemented yet; name a flavor in the vm_type")

    # --- disks ---------------------------------------------------------------------------

    def create_disk(self, size_mb: int, cloud_properties: dict[str, Any],
                    vm_cid: str | None) -> str:
        if isinstance(size_mb, bool) or not isinstance(size_mb, int) or size_mb <= 0:
            raise InvalidCall(f"create_disk: size {size_mb!r} must be a positive number of MB")
        zone = cloud_properties.get("availability_zone")
        if vm_cid:
            zone = self._server(vm_cid).extra.get("availability_zone") or zone
        volume: dict[str, Any] = {"size": math.ceil(size_mb / 1024), "name": "bosh-disk"}
        if zone:
            volume["availability_zone"] = zone
        if cloud_properties.get("type"):
            volume["volume_type"] = str(cloud_properties["type"])
        cinder = self.driver._get_volume_connection()
        created = self._call(lambda: cinder.request("/volumes", method="POST",
                                                    data={"volume": volume}).object)
        return str(created["volume"]["id"])

    def delete_disk(self, disk_cid: str) -> None:
        volume = self._volume(disk_cid)
        holders = self._holders(volume)
        if holders:
            raise CloudError(f"disk {disk_cid} is attached to {', '.join(holders)}; detach it first")
        try:
            self._call(lambda: self.driver.destroy_volume(volume))
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise

    def has_disk(self, disk_cid: str) -> bool:
        try:
            self._volume(disk_cid)
        except DiskNotFound:
            return False
        return True

    def attach_disk(self, vm_cid: str, disk_cid: str) -> str:
        """Attach with no requested device, then re-read the attachment for the hint."""
        node = self._server(vm_cid)
        volume = self._volume(disk_cid)
        holders = self._holders(volume)
        if holders and holders != [vm_cid]:
            raise CloudError(f"disk {disk_cid} is already attached to VM {', '.join(holders)}")
        if not holders:
            self._call(lambda: self.driver.attach_volume(node, volume))
        device = self._device(disk_cid, vm_cid)
        if not device:
            raise CloudError(f"disk {disk_cid} was attached to {vm_cid} but OpenStack names "
                             "no device for it")
        return device

    def _device(self, disk_cid: str, vm_cid: str) -> str | None:
        for attachment in self._volume(disk_cid).extra.get("attachments") or []:
            if (attachment.get("server_id") or attachment.get("serverId")) == vm_cid:
                return attachment.get("device")
        return None

    def detach_disk(self, vm_cid: str, disk_cid: str) -> None:
        node = self._server(vm_cid)
        volume = self._volume(disk_cid)  # fresh: libcloud detaches what the object lists
        if vm_cid not in self._holders(volume):
            self.log(f"detach_disk: disk {disk_cid} is not attached to {vm_cid}; nothing to do")
            return
        try:
            self._call(lambda: self.driver.detach_volume(volume, ex_node=node))
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                self.log(f"detach_disk: {disk_cid} was already detached")
                return
            raise

    def get_disks(self, vm_cid: str) -> list[str]:
        node = self._server(vm_cid)
        served = self._call(lambda: self.driver.connection.request(
            f"/servers/{node.id}/os-volume_attachments").object)
        return sorted(str(a["volumeId"]) for a in served.get("volumeAttachments") or [])

    def resize_disk(self, disk_cid: str, new_size_mb: int) -> None:
        """Cinder's os-extend; grow only."""
        if isinstance(new_size_mb, bool) or not isinstance(new_size_mb, int) or new_size_mb <= 0:
            raise InvalidCall(f"resize_disk: size {new_size_mb!r} must be a positive number of MB")
        volume = self._volume(disk_cid)
        new_gib = math.ceil(new_size_mb / 1024)
        if new_gib < volume.size:
            raise CloudError(f"disk {disk_cid}: cannot shrink from {volume.size} GiB to {new_gib} GiB")
        if new_gib == volume.size:
            self.log(f"resize_disk: {disk_cid} is already {new_gib} GiB")
            return
        cinder = self.driver._get_volume_connection()
        self._call(lambda: cinder.request(f"/volumes/{disk_cid}/action", method="POST",
                                          data={"os-extend": {"new_size": new_gib}}))

    def snapshot_disk(self, disk_cid: str, metadata: dict[str, str]) -> str:
        volume = self._volume(disk_cid)
        parts = [str(metadata[k]) for k in ("deployment", "job", "index") if k in metadata]
        name = "-".join(["bosh", *parts]) if parts else "bosh-snapshot"
        snapshot = self._call(lambda: self.driver.create_volume_snapshot(
            volume, name=name, ex_description=f"bosh snapshot of {disk_cid}", ex_force=True))
        return str(snapshot.id)

    def delete_snapshot(self, snapshot_cid: str) -> None:
        cinder = self.driver._get_volume_connection()
        try:
            self._call(lambda: cinder.request(f"/snapshots/{snapshot_cid}", method="DELETE"))
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                self.log(f"delete_snapshot: {snapshot_cid} is already gone")
                return
            raise

    def set_disk_metadata(self, disk_cid: str, metadata: dict[str, str]) -> None:
        """Cinder volume metadata, merged into what the volume has."""
        self._volume(disk_cid)
        cinder = self.driver._get_volume_connection()
        self._call(lambda: cinder.request(f"/volumes/{disk_cid}/metadata", method="POST",
                                          data={"metadata": dict(metadata)}))


def _networks_with_ips(networks: dict[str, Any], node: Node) -> dict[str, Any]:
    out = {name: dict(net) for name, net in networks.items()}
    for net in out.values():
        if not net.get("ip") and node.private_ips:
            net["ip"] = node.private_ips[0]
    return out


PROVIDER = OpenStackProvider
