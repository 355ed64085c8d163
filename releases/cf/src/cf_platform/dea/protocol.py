"""Every message the DEA publishes, in the exact shapes of releases/cf/README.md.

Kept in one module so the contract with the cloud controller, router and health manager
can be read (and tested) in one place.
"""

from __future__ import annotations

import time
from typing import Any

from .instance import Instance

EXIT_CRASHED = "CRASHED"
EXIT_STOPPED = "STOPPED"
EXIT_DEA_SHUTDOWN = "DEA_SHUTDOWN"


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


def heartbeat(dea_id: str, instances: list[Instance]) -> dict[str, Any]:
    return {"dea": dea_id, "droplets": [heartbeat_entry(i) for i in instances]}


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
