"""The environment an app instance sees (dea_ng lib/dea/starting/env.rb, classic names).

The app's own ``env`` list comes first and the platform's variables last, so a user
cannot point PORT somewhere the health check and router do not look.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .instance import Instance

HOME = "/home/vcap/app"
PATH = "/usr/local/bin:/usr/bin:/bin"


def vcap_services(services: Any) -> str:
    """``{label: [service, ...]}`` from the start message's services (list or mapping)."""
    if isinstance(services, dict):
        return json.dumps(services)
    grouped: dict[str, list] = {}
    for service in services or []:
        if isinstance(service, dict):
            grouped.setdefault(str(service.get("label") or "user-provided"), []).append(service)
    return json.dumps(grouped)


def vcap_application(instance: Instance, port: int) -> dict[str, Any]:
    started = instance.started_at or time.time()
    return {
        "instance_id": instance.instance_id, "instance_index": instance.index,
        "application_id": instance.droplet, "application_name": instance.name,
        "application_uris": list(instance.uris), "application_version": instance.version,
        "name": instance.name, "uris": list(instance.uris), "version": instance.version,
        "limits": {"mem": instance.limits.mem, "disk": instance.limits.disk, "fds": instance.limits.fds},
        "host": "0.0.0.0", "port": port,
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(started)),
        "started_at_timestamp": int(started), "state_timestamp": int(instance.state_timestamp)}


def build(instance: Instance, port: int, dea_ip: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in instance.env:
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    env.update({
        "PATH": env.get("PATH", PATH), "LANG": env.get("LANG", "C.UTF-8"), "HOME": HOME, "TMPDIR": "/tmp",
        "USER": "vcap", "PORT": str(port), "VCAP_APP_PORT": str(port), "VCAP_APP_HOST": "0.0.0.0",
        "VCAP_APPLICATION": json.dumps(vcap_application(instance, port)),
        "VCAP_SERVICES": vcap_services(instance.services),
        "MEMORY_LIMIT": f"{instance.limits.mem}m", "INSTANCE_INDEX": str(instance.index),
        "INSTANCE_GUID": instance.instance_id, "CF_INSTANCE_INDEX": str(instance.index),
        "CF_INSTANCE_GUID": instance.instance_id, "CF_INSTANCE_IP": dea_ip,
        "CF_INSTANCE_PORT": str(port), "CF_INSTANCE_ADDR": f"{dea_ip}:{port}",
        "PYTHONUNBUFFERED": env.get("PYTHONUNBUFFERED", "1"),
    })
    return env
