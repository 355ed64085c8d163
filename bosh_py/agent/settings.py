"""settings.json (docs/internals.md): who this agent is, where NATS and the blobstore are.

Kept as a dataclass plus the raw dict, because update_settings may add keys the agent
does not know yet and they must survive a rewrite."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bosh_py.agent.errors import AgentActionError

DEFAULT_HEARTBEAT_INTERVAL = 30.0  # BOSH's default
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass
class Settings:
    agent_id: str
    mbus: str
    blobstore: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    vm: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    stop_timeout: float = 30.0
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        agent_id = str(data.get("agent_id", ""))
        if not AGENT_ID_RE.match(agent_id):
            raise AgentActionError(f"settings.json: invalid agent_id {agent_id!r}")
        if not data.get("mbus"):
            raise AgentActionError("settings.json: mbus URL missing")
        return cls(
            agent_id=agent_id,
            mbus=str(data["mbus"]),
            blobstore=dict(data.get("blobstore") or {}),
            heartbeat_interval=float(data.get("heartbeat_interval") or DEFAULT_HEARTBEAT_INTERVAL),
            vm=dict(data.get("vm") or {}),
            env=dict(data.get("env") or {}),
            stop_timeout=float(data.get("stop_timeout") or 30.0),
            raw=dict(data),
        )

    @classmethod
    def load(cls, path: Path) -> "Settings":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise AgentActionError(f"Cannot read settings {path}: {e}") from None
        return cls.from_dict(data)

    def save(self, path: Path) -> None:
        write_json_private(path, self.raw)


def write_json_private(path: Path, data: Any) -> None:
    """Atomic 0600 JSON write: settings and spec can hold secrets, and a crash mid-write
    must not leave half a file the agent cannot boot from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
