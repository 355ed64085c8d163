"""Cinder (block-storage v3): volumes, their metadata and extension, snapshots, and the attach and
detach bookkeeping Nova drives when a volume is attached to a server."""

from __future__ import annotations

from aiohttp import web

from .bodies import body_of, reply
from .cloud import Cloud, new_id, now
from .errors import bad_request, not_found


def get_volume(cloud: Cloud, volume_id: str) -> dict:
    if volume_id not in cloud.volumes:
        raise not_found(f"Volume {volume_id} could not be found.")
    return cloud.volumes[volume_id]


def get_snapshot(cloud: Cloud, snapshot_id: str) -> dict:
    if snapshot_id not in cloud.snapshots:
        raise not_found(f"Snapshot {snapshot_id} could not be found.")
    return cloud.snapshots[snapshot_id]


def mark_attached(volume: dict, server_id: str, device: str) -> dict:
    """Record the attachment the way Cinder lists it; Nova's attachment id is the volume id."""
    if volume["status"] != "available":
        raise bad_request(f"Invalid volume: volume {volume['id']} status must be 'available', "
                          f"but current status is: {volume['status']}.")
    attachment = {"id": volume["id"], "attachment_id": new_id(), "volume_id": volume["id"], "server_id": server_id,
                  "device": device, "host_name": None, "attached_at": now()}
    volume.update(status="in-use", attachments=[attachment], updated_at=now())
    return attachment


def mark_detached(volume: dict) -> None:
    volume.update(status="available", attachments=[], updated_at=now())


def positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) < 1:
        raise bad_request(f"Invalid input received: {what} must be an integer and greater than 0, got {value!r}.")
    return int(value)


def string_metadata(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise bad_request("Invalid input received: metadata must be an object of string keys and string values.")
    if any(len(k) > 255 or len(v) > 255 for k, v in value.items()):
        raise bad_request("Invalid input received: metadata keys and values must be at most 255 characters.")
    return dict(value)


def routes(cloud: Cloud) -> list[web.RouteDef]:
    async def list_volumes(request: web.Request) -> web.Response:
        return reply({"volumes": list(cloud.volumes.values())})

    async def post_volume(request: web.Request) -> web.Response:
        spec = await body_of(request, "volume")
        size = positive_int(spec.get("size"), "size")
        zone = spec.get("availability_zone") or cloud.availability_zones[0]
        if zone not in cloud.availability_zones:
            raise bad_request(f"Invalid input received: Availability zone '{zone}' is invalid.")
        snapshot = get_snapshot(cloud, spec["snapshot_id"]) if spec.get("snapshot_id") else None
        if snapshot is not None and size < snapshot["size"]:
            raise bad_request(f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
                              f"snapshot size {snapshot['size']}GB.")
        stamp = now()
        volume = {"id": new_id(), "name": spec.get("name"), "description": spec.get("description"), "size": size,
                  "status": "available", "availability_zone": zone, "volume_type": spec.get("volume_type") or
                  "__DEFAULT__", "metadata": string_metadata(spec.get("metadata") or {}), "attachments": [],
                  "snapshot_id": snapshot["id"] if snapshot else None, "source_volid": None, "bootable": "false",
                  "encrypted": False, "multiattach": False, "created_at": stamp, "updated_at": stamp,
                  "user_id": cloud.user_id, "os-vol-tenant-attr:tenant_id": cloud.project_id}
        cloud.volumes[volume["id"]] = volume
        return reply({"volume": volume}, status=202)

    async def show_volume(request: web.Request) -> web.Response:
        return reply({"volume": get_volume(cloud, request.match_info["id"])})

    async def delete_volume(request: web.Request) -> web.Response:
        volume = get_volume(cloud, request.match_info["id"])
        if volume["status"] not in ("available", "error"):
            raise bad_request("Invalid volume: Volume status must be available or error or error_restoring or "
                              "error_extending or error_managing and must not be migrating, attached, belong to a "
                              "group, have snapshots or be disassociated from snapshots after volume transfer.")
        dependents = [s for s in cloud.snapshots.values() if s["volume_id"] == volume["id"]]
        if dependents:
            raise bad_request(f"Invalid volume: Volume {volume['id']} still has {len(dependents)} dependent "
                              f"snapshots.")
        del cloud.volumes[volume["id"]]
        return reply(None, status=202)

    async def volume_action(request: web.Request) -> web.Response:
        volume = get_volume(cloud, request.match_info["id"])
        spec = await body_of(request, "os-extend")
        new_size = positive_int(spec.get("new_size"), "new_size")
        if volume["status"] != "available":
            raise bad_request(f"Invalid volume: Volume {volume['id']} status must be available to extend, "
                              f"but current status is: {volume['status']}.")
        if new_size <= volume["size"]:
            raise bad_request(f"Invalid input received: New size for extend must be greater than current size. "
                              f"(current: {volume['size']}, extended: {new_size}).")
        volume.update(size=new_size, updated_at=now())
        return reply(None, status=202)

    async def volume_metadata(request: web.Request) -> web.Response:
        volume = get_volume(cloud, request.match_info["id"])
        if request.method == "GET":
            return reply({"metadata": volume["metadata"]})
        data = string_metadata(await body_of(request, "metadata"))
        volume["metadata"] = data if request.method == "PUT" else {**volume["metadata"], **data}
        return reply({"metadata": volume["metadata"]})

    async def list_snapshots(request: web.Request) -> web.Response:
        return reply({"snapshots": list(cloud.snapshots.values())})

    async def post_snapshot(request: web.Request) -> web.Response:
        spec = await body_of(request, "snapshot")
        volume = get_volume(cloud, str(spec.get("volume_id", "")))
        force = str(spec.get("force", False)).lower() == "true"
        if volume["status"] == "in-use" and not force:
            raise bad_request(f"Invalid volume: Volume {volume['id']} status must be available, but current "
                              f"status is: in-use.")
        snapshot = {"id": new_id(), "name": spec.get("name"), "description": spec.get("description"),
                    "volume_id": volume["id"], "size": volume["size"], "status": "available", "metadata": {},
                    "created_at": now(), "updated_at": None, "progress": "100%",
                    "os-extended-snapshot-attributes:project_id": cloud.project_id}
        cloud.snapshots[snapshot["id"]] = snapshot
        return reply({"snapshot": snapshot}, status=202)

    async def show_snapshot(request: web.Request) -> web.Response:
        return reply({"snapshot": get_snapshot(cloud, request.match_info["id"])})

    async def delete_snapshot(request: web.Request) -> web.Response:
        snapshot = get_snapshot(cloud, request.match_info["id"])
        del cloud.snapshots[snapshot["id"]]
        return reply(None, status=202)

    prefix = f"/volume/v3/{cloud.project_id}"
    return [
        web.get(f"{prefix}/volumes", list_volumes), web.get(f"{prefix}/volumes/detail", list_volumes),
        web.post(f"{prefix}/volumes", post_volume), web.get(f"{prefix}/volumes/{{id}}", show_volume),
        web.delete(f"{prefix}/volumes/{{id}}", delete_volume),
        web.post(f"{prefix}/volumes/{{id}}/action", volume_action),
        web.get(f"{prefix}/volumes/{{id}}/metadata", volume_metadata),
        web.put(f"{prefix}/volumes/{{id}}/metadata", volume_metadata),
        web.post(f"{prefix}/volumes/{{id}}/metadata", volume_metadata),
        web.get(f"{prefix}/snapshots", list_snapshots), web.get(f"{prefix}/snapshots/detail", list_snapshots),
        web.post(f"{prefix}/snapshots", post_snapshot), web.get(f"{prefix}/snapshots/{{id}}", show_snapshot),
        web.delete(f"{prefix}/snapshots/{{id}}", delete_snapshot),
    ]
