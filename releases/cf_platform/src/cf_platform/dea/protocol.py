"""Every message the DEA publishes and reads, in the exact shapes of releases/cf/README.md.

Kept in one module so the contract with the cloud controller, router and health manager
can be read (and tested) in one place. What the DEA reads is checked here first (the
``parse_*`` functions, rules in cf_platform.messages) and handed on as a plain dict of
checked fields only: a forged or broken message is dropped before it can reach a
container, a subject or a timer.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..messages import (HTTP_URL_RE, ID_RE, INSTANCE_STATES, MAX_INDEX, PRINTABLE_RE,
                        VERSION_RE, Fields)
from .instance import Instance

EXIT_CRASHED = "CRASHED"
EXIT_STOPPED = "STOPPED"
EXIT_DEA_SHUTDOWN = "DEA_SHUTDOWN"
EXIT_DEA_EVACUATION = "DEA_EVACUATION"   # evacuation timed out before a replacement ran


def shutdown(dea_id: str, ip: str, app_id_to_count: dict[str, int]) -> dict[str, Any]:
    """``dea.shutdown`` as dea_ng sent it when it began to evacuate: place nothing here any more."""
    return {"id": dea_id, "ip": ip, "version": "bosh-py", "app_id_to_count": app_id_to_count}


def advertise(dea_id: str, stacks: list[str], available_memory: int, available_disk: int,
              app_id_to_count: dict[str, int]) -> dict[str, Any]:
    return {"id": dea_id, "stacks": list(stacks), "available_memory": available_memory,
            "available_disk": available_disk, "app_id_to_count": app_id_to_count}


def discover_reply(dea_id: str, ip: str, stacks: list[str], available_memory: int) -> dict[str, Any]:
    return {"id": dea_id, "ip": ip, "stacks": list(stacks), "available_memory": available_memory}


def heartbeat_entry(instance: Instance) -> dict[str, Any]:
    return {"droplet": instance.droplet, "version": instance.version, "instance": instance.instance_id,
            "index": instance.index, "state": instance.state.value,
            "state_timestamp": instance.state_timestamp}


def heartbeat(dea_id: str, instances: list[Instance], interval: float) -> dict[str, Any]:
    """``interval`` (a bosh-py addition): the next heartbeat comes this soon, so the health
    manager knows how soon this DEA's silence means it is gone."""
    return {"dea": dea_id, "interval": interval, "droplets": [heartbeat_entry(i) for i in instances]}


def exited(instance: Instance, reason: str) -> dict[str, Any]:
    return {"droplet": instance.droplet, "version": instance.version, "instance": instance.instance_id,
            "index": instance.index, "reason": reason, "exit_status": instance.exit_status,
            "exit_description": instance.exit_description, "crash_timestamp": time.time()}


def route(instance: Instance, host: str, dea_id: str) -> dict[str, Any]:
    """Body of router.register and router.unregister (same shape, as gorouter expects)."""
    return {"host": host, "port": instance.port, "uris": list(instance.uris), "app": instance.droplet,
            "private_instance_id": instance.instance_id, "private_instance_index": instance.index,
            "tags": {"component": "dea", "dea": dea_id}}


def find_reply(instance: Instance, dea_id: str, host: str, stats: dict[str, Any] | None = None,
               logs: dict[str, str] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "dea": dea_id, "droplet": instance.droplet, "version": instance.version,
        "instance": instance.instance_id, "index": instance.index, "state": instance.state.value,
        "state_timestamp": instance.state_timestamp, "host": host, "port": instance.port}
    if stats is not None:
        reply["stats"] = stats
    if logs is not None:
        reply["logs"] = logs
    return reply


def stats(instance: Instance, usage: dict[str, Any]) -> dict[str, Any]:
    """``stats`` of a find reply: uptime (s), mem_quota (bytes), usage {mem (bytes), cpu (%),
    disk (bytes)}."""
    uptime = time.time() - instance.started_at if instance.started_at else 0.0
    return {"uptime": round(uptime, 3), "mem_quota": instance.limits.mem * 1024 * 1024,
            "usage": usage}


# --- what the DEA reads -----------------------------------------------------------------------

MAX_URIS = 100
MAX_ENV = 1000
MAX_MEM_MB = 1024 * 1024
MAX_DISK_MB = 16 * 1024 * 1024
MAX_FDS = 1024 * 1024
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}=[^\x00]*")
_SHA1_RE = re.compile(r"[0-9a-f]{40}")
_BUILDPACK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}|https?://[!-~]{1,2000}")


def _limits(f: Fields) -> dict[str, int | None]:
    limits = f.nested("limits")
    return {"mem": limits.integer("mem", 0, MAX_MEM_MB, required=False),
            "disk": limits.integer("disk", 0, MAX_DISK_MB, required=False),
            "fds": limits.integer("fds", 0, MAX_FDS, required=False)}


def parse_discover(payload: Any) -> dict[str, Any]:
    """``dea.discover {droplet, name, runtime, sha1, limits: {mem, disk}}``."""
    f = Fields(payload, "dea.discover")
    return {"droplet": f.text("droplet", ID_RE, 128), "limits": _limits(f)}


def parse_staging(payload: Any) -> dict[str, Any]:
    """``staging.<id>.start``; URIs are checked but never echoed (they carry credentials)."""
    f = Fields(payload, "staging.start")
    bits = f.text("bits_uri", HTTP_URL_RE, 2048, required=False, secret=True) \
        or f.text("download_uri", HTTP_URL_RE, 2048, secret=True)
    upload = f.text("droplet_upload_uri", HTTP_URL_RE, 2048, required=False, secret=True) \
        or f.text("upload_uri", HTTP_URL_RE, 2048, secret=True)
    return {"app_id": f.text("app_id", ID_RE, 128), "name": f.text("name", PRINTABLE_RE, 256, required=False),
            "bits_uri": bits, "droplet_upload_uri": upload,
            "buildpack": f.text("buildpack", _BUILDPACK_RE, 2048, required=False),
            "limits": _limits(f)}


def parse_start(payload: Any) -> dict[str, Any]:
    """``dea.<id>.start``: everything an instance is made from."""
    f = Fields(payload, "dea.start")
    return {"droplet": f.text("droplet", ID_RE, 128), "name": f.text("name", PRINTABLE_RE, 256, required=False),
            "uris": f.texts("uris", PRINTABLE_RE, 1024, MAX_URIS) or [],
            "version": f.text("version", VERSION_RE, 128, required=False, default=""),
            "index": f.integer("index", 0, MAX_INDEX - 1, required=False, default=0),
            "sha1": f.text("sha1", _SHA1_RE, 40, required=False),
            "droplet_uri": f.text("droplet_uri", HTTP_URL_RE, 2048, required=False, secret=True),
            "limits": {k: v for k, v in _limits(f).items() if v},
            "env": f.texts("env", _ENV_RE, 64 * 1024, MAX_ENV) or [],
            "start_command": f.text("start_command", PRINTABLE_RE, 4096, required=False),
            "services": f.raw_list("services", 100) or []}


def parse_selection(payload: Any, subject: str) -> dict[str, Any]:
    """``dea.stop`` / ``dea.find.droplet``: which instances of a droplet, and what to include."""
    f = Fields(payload, subject)
    ids = f.texts("instances", ID_RE, 128, MAX_INDEX)
    if ids is None:
        ids = f.texts("instance_ids", ID_RE, 128, MAX_INDEX)
    return {"droplet": f.text("droplet", ID_RE, 128),
            "version": f.text("version", VERSION_RE, 128, required=False),
            "instances": ids,
            "indices": f.integers("indices", 0, MAX_INDEX, MAX_INDEX),
            "states": f.texts("states", re.compile("|".join(INSTANCE_STATES)), 16, len(INSTANCE_STATES)),
            "include_stats": f.boolean("include_stats"),
            "include_logs": f.boolean("include_logs")}


def parse_update(payload: Any) -> dict[str, Any]:
    """``dea.update {droplet, uris}``."""
    f = Fields(payload, "dea.update")
    return {"droplet": f.text("droplet", ID_RE, 128),
            "uris": f.texts("uris", PRINTABLE_RE, 1024, MAX_URIS, required=True)}


def parse_router_start(payload: Any) -> dict[str, Any]:
    """``router.start`` / a ``router.greet`` reply: only the register interval is used, and it
    is bounded: a tiny one would make the DEA re-register in a busy loop, a huge one stop its
    re-registering until the routers prune its routes (gorouter's default is 20 s)."""
    f = Fields(payload, "router.start")
    return {"id": f.text("id", ID_RE, 128, required=False),
            "minimumRegisterIntervalInSeconds": f.number("minimumRegisterIntervalInSeconds", 1, 60,
                                                         required=False)}


def parse_any_object(payload: Any, subject: str) -> dict[str, Any]:
    """Subjects whose body carries nothing the DEA reads (``dea.locate``)."""
    Fields(payload, subject)
    return {}

