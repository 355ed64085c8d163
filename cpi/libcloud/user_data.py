"""The agent's settings as user data: CPI API v2 without a registry.

The VM reads these from the IaaS metadata service at first boot, as bosh-agent's
"CloudInit"/"HTTP" settings sources do; this is the only way they reach the VM.
"""

from __future__ import annotations

import json
from typing import Any


def agent_settings(agent_id: str, networks: dict[str, Any], env: dict[str, Any] | None,
                   agent_config: dict[str, Any]) -> dict[str, Any]:
    """The settings document; ``agent_config`` (from the CPI config: mbus, ntp …) is merged in."""
    settings: dict[str, Any] = {
        "agent_id": agent_id,
        "vm": {"name": f"vm-{agent_id}"},
        "networks": networks,
        "disks": {"system": "/dev/xvda", "ephemeral": "/dev/sdb", "persistent": {}},
        "env": env or {},
    }
    settings.update(agent_config)
    return settings


def encode(settings: dict[str, Any]) -> str:
    return json.dumps({"settings": settings}, sort_keys=True)
