"""What a request may ask of an app, and which fields it changes. Pure logic: the database
checks (a name already taken) and the writes are app_service.py's.

- memory and disk_quota are positive MB, instances 0..MAX_INSTANCES, state STARTED/STOPPED;
- starting a stopped app needs its bits; starting it, or changing memory, disk_quota or the
  environment of a started app, gives it a new version (the old version's instances become
  extras and are replaced);
- starting an app whose staging failed, or changing its buildpack, stages it again;
- an app belongs to one space (``space_guid``, checked by tenancy/access.py before the app
  is made) and does not move.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .db import new_guid, now_iso
from .models import APP_STATES, FAILED, PENDING, STARTED, STOPPED, App

MAX_INSTANCES = 1000
RESTART_FIELDS = ("memory", "environment", "disk_quota")  # a started app restarts when one changes


def int_field(body: dict, key: str) -> int | None:
    if key not in body or body[key] is None:
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.app_invalid(f"{key} must be an integer")
    return value


def validate(memory: int, instances: int, disk: int, state: str) -> None:
    if instances < 0:
        raise errors.app_invalid("instances less than 0")
    if instances > MAX_INSTANCES:
        raise errors.app_invalid(f"instances more than {MAX_INSTANCES}")
    if memory <= 0:
        raise errors.app_invalid("memory must be greater than 0 MB")
    if disk <= 0:
        raise errors.app_invalid("disk_quota must be greater than 0 MB")
    if state not in APP_STATES:
        raise errors.app_invalid(f"state must be one of {', '.join(APP_STATES)}")


def environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and "=" not in k for k in value):
        raise errors.app_invalid("environment_json must be an object of variable names to values")
    return {k: v if isinstance(v, str) else str(v) for k, v in value.items()}


def buildpack(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise errors.app_invalid("buildpack must be a string")
    return value


def valid_host(host: str) -> bool:
    return len(host) <= 63 and all(c.isalnum() or c == "-" for c in host) and not host.startswith("-") \
        and host.isascii()


def app_name(value: Any, required: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.app_invalid(required)
    return value.strip()


def new_app(body: dict, default_memory: int, default_disk: int) -> App:
    """The app a create request describes (not stored yet)."""
    name = app_name(body.get("name"), "name is required")
    memory = int_field(body, "memory") or default_memory
    instances = int_field(body, "instances")
    instances = 1 if instances is None else instances
    disk = int_field(body, "disk_quota") or default_disk
    state = body.get("state") or STOPPED
    validate(memory, instances, disk, state)
    now = now_iso()
    return App(guid=new_guid(), name=name, memory=memory, instances=instances, disk_quota=disk,
               state=state, package_state=PENDING, version=new_guid(), created_at=now, updated_at=now,
               buildpack=buildpack(body.get("buildpack")), environment=environment(body.get("environment_json")),
               space_guid=body.get("space_guid"))


def changes(old: App, body: dict) -> dict[str, Any]:
    """The fields an update request changes, with the version and staging consequences."""
    result: dict[str, Any] = {}
    if "space_guid" in body and body["space_guid"] != old.space_guid:
        raise errors.app_invalid("space_guid cannot be changed: an app stays in the space it was made in")
    if "name" in body:
        result["name"] = app_name(body["name"], "name must be a non-empty string")
    memory, instances, disk = int_field(body, "memory"), int_field(body, "instances"), int_field(body, "disk_quota")
    state = body.get("state")
    validate(memory if memory is not None else old.memory, instances if instances is not None else old.instances,
             disk if disk is not None else old.disk_quota, state or old.state)
    for key, value in (("memory", memory), ("instances", instances), ("disk_quota", disk), ("state", state)):
        if value is not None and value != getattr(old, key):
            result[key] = value
    if "environment_json" in body:
        env = environment(body["environment_json"])
        if env != old.environment:
            result["environment"] = env
    if "buildpack" in body:
        result["buildpack"] = buildpack(body["buildpack"])
    new_state = result.get("state", old.state)
    starting = old.state == STOPPED and new_state == STARTED
    if starting and old.bits_sha1 is None:
        raise errors.app_package_invalid("upload the app's bits before starting it")
    restart = old.state == STARTED and new_state == STARTED and any(k in result for k in RESTART_FIELDS)
    if starting or restart:
        result["version"] = new_guid()     # instances of the old version become extras
    if starting and (old.package_state == FAILED or "buildpack" in result):
        result.update(package_state=PENDING, staging_failed_reason=None, staging_failed_description=None)
    return result
