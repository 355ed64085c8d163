"""The OpenStack provider's disk verbs: Cinder volumes, attached through Nova.

Attachments are always re-read from the cloud, never trusted from a cached object (libcloud's
detach_volume trusts the attachments cached on its volume object), and a disk's hint is the
device Nova reports after attaching (Nova on libvirt may ignore a requested device, so none is
requested).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from libcloud.compute.base import StorageVolume

from cpi.libcloud.errors import CloudError, DiskNotFound, InvalidCall
from cpi.libcloud.providers import openstack_errors
from cpi.libcloud.providers.openstack_api import OpenStackApi, OpenStackError


def _holders(volume: StorageVolume) -> list[str]:
    return [a.get("server_id") or a.get("serverId") for a in volume.extra.get("attachments") or []]


def _size_gib(size_mb: object, method: str) -> int:
    if isinstance(size_mb, bool) or not isinstance(size_mb, int) or size_mb <= 0:
        raise InvalidCall(f"{method}: size {size_mb!r} must be a positive number of MB")
    return math.ceil(size_mb / 1024)


class OpenStackDisks:
    """Disk verbs; the provider that inherits them sets ``api`` and ``log``."""

    api: OpenStackApi
    log: Callable[[str], None]

    def create_disk(self, size_mb: int, cloud_properties: dict[str, Any], vm_cid: str | None) -> str:
        volume: dict[str, Any] = {"size": _size_gib(size_mb, "create_disk"), "name": "bosh-disk"}
        zone = cloud_properties.get("availability_zone")
        if vm_cid:
            zone = self.api.server(vm_cid).get("OS-EXT-AZ:availability_zone") or zone
        if zone:
            volume["availability_zone"] = zone
        if cloud_properties.get("type"):
            volume["volume_type"] = str(cloud_properties["type"])
        return str(self.api.cinder("/volumes", method="POST", data={"volume": volume})["volume"]["id"])

    def delete_disk(self, disk_cid: str) -> None:
        holders = _holders(self.api.volume(disk_cid))
        if holders:
            raise CloudError(f"disk {disk_cid} is attached to {', '.join(holders)}; detach it first")
        try:
            self.api.cinder(f"/volumes/{disk_cid}", method="DELETE")
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise

    def has_disk(self, disk_cid: str) -> bool:
        try:
            self.api.volume(disk_cid)
        except DiskNotFound:
            return False
        return True

    def attach_disk(self, vm_cid: str, disk_cid: str) -> str:
        """Attach with no requested device, then re-read the attachment for the hint."""
        self.api.server(vm_cid)
        holders = _holders(self.api.volume(disk_cid))
        if holders and holders != [vm_cid]:
            raise CloudError(f"disk {disk_cid} is already attached to VM {', '.join(holders)}")
        if not holders:
            self.api.nova(f"/servers/{vm_cid}/os-volume_attachments", method="POST",
                          data={"volumeAttachment": {"volumeId": disk_cid}})
        device = self._device(disk_cid, vm_cid)
        if not device:
            raise CloudError(f"disk {disk_cid} was attached to {vm_cid} but OpenStack names no device for it")
        return device

    def _device(self, disk_cid: str, vm_cid: str) -> str | None:
        for attachment in self.api.volume(disk_cid).extra.get("attachments") or []:
            if (attachment.get("server_id") or attachment.get("serverId")) == vm_cid:
                return str(attachment.get("device") or "") or None
        return None

    def detach_disk(self, vm_cid: str, disk_cid: str) -> None:
        self.api.server(vm_cid)
        if vm_cid not in _holders(self.api.volume(disk_cid)):
            self.log(f"detach_disk: disk {disk_cid} is not attached to {vm_cid}; nothing to do")
            return
        try:
            self.api.nova(f"/servers/{vm_cid}/os-volume_attachments/{disk_cid}", method="DELETE")
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                self.log(f"detach_disk: {disk_cid} was already detached")
                return
            raise

    def get_disks(self, vm_cid: str) -> list[str]:
        self.api.server(vm_cid)
        served = self.api.nova(f"/servers/{vm_cid}/os-volume_attachments")
        return sorted(str(a["volumeId"]) for a in served.get("volumeAttachments") or [])

    def resize_disk(self, disk_cid: str, new_size_mb: int) -> None:
        """Cinder's os-extend; grow only."""
        new_gib = _size_gib(new_size_mb, "resize_disk")
        volume = self.api.volume(disk_cid)
        if new_gib < volume.size:
            raise CloudError(f"disk {disk_cid}: cannot shrink from {volume.size} GiB to {new_gib} GiB")
        if new_gib == volume.size:
            self.log(f"resize_disk: {disk_cid} is already {new_gib} GiB")
            return
        self.api.cinder(f"/volumes/{disk_cid}/action", method="POST", data={"os-extend": {"new_size": new_gib}})

    def snapshot_disk(self, disk_cid: str, metadata: dict[str, str]) -> str:
        volume = self.api.volume(disk_cid)
        parts = [str(metadata[k]) for k in ("deployment", "job", "index") if k in metadata]
        name = "-".join(["bosh", *parts]) if parts else "bosh-snapshot"
        snapshot = self.api.call(lambda: self.api.driver.create_volume_snapshot(
            volume, name=name, ex_description=f"bosh snapshot of {disk_cid}", ex_force=True))
        return str(snapshot.id)

    def delete_snapshot(self, snapshot_cid: str) -> None:
        try:
            self.api.cinder(f"/snapshots/{snapshot_cid}", method="DELETE")
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                self.log(f"delete_snapshot: {snapshot_cid} is already gone")
                return
            raise

    def set_disk_metadata(self, disk_cid: str, metadata: dict[str, str]) -> None:
        """Cinder volume metadata, merged into what the volume has."""
        self.api.volume(disk_cid)
        self.api.cinder(f"/volumes/{disk_cid}/metadata", method="POST", data={"metadata": dict(metadata)})
