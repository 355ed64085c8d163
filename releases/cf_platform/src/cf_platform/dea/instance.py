"""One app instance as the DEA knows it: what it was asked to run, and where it is now."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class State(str, Enum):
    BORN = "BORN"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    EVACUATING = "EVACUATING"   # still running and routed, on a DEA that is draining (dea_ng's)
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    CRASHED = "CRASHED"


#: States that hold memory, disk and a port (count against the DEA's capacity).
ACTIVE_STATES = frozenset({State.BORN, State.STARTING, State.RUNNING, State.EVACUATING, State.STOPPING})
#: States whose routes are registered with the routers.
ROUTED_STATES = frozenset({State.RUNNING, State.EVACUATING})


@dataclass(frozen=True)
class Limits:
    mem: int = 256      # MB
    disk: int = 1024    # MB
    fds: int = 16384

    @classmethod
    def from_message(cls, data: Any) -> "Limits":
        data = data if isinstance(data, dict) else {}
        default = cls()

        def number(key: str, fallback: int) -> int:
            try:
                value = int(data.get(key) or fallback)
            except (TypeError, ValueError):
                return fallback
            return value if value > 0 else fallback

        return cls(number("mem", default.mem), number("disk", default.disk), number("fds", default.fds))


@dataclass
class Instance:
    """Everything from ``dea.<id>.start`` plus the instance's live state."""

    droplet: str                  # the app guid
    version: str
    index: int
    name: str
    uris: list[str]
    limits: Limits
    env: list[str]
    services: list[Any]
    start_command: str | None
    sha1: str | None
    droplet_uri: str | None
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: State = State.BORN
    state_timestamp: float = field(default_factory=time.time)
    port: int | None = None
    started_at: float | None = None       # when the app's process began (for uptime)
    exit_status: int | None = None
    exit_description: str = ""
    directory: Path | None = None         # <base>/instances/<instance_id>

    @classmethod
    def from_start_message(cls, message: dict[str, Any]) -> "Instance":
        droplet = message.get("droplet")
        if not droplet or not isinstance(droplet, str):
            raise ValueError("dea.start: 'droplet' (the app guid) is required")
        env = message.get("env") or []
        if isinstance(env, dict):
            env = [f"{k}={v}" for k, v in env.items()]
        try:
            index = int(message.get("index") or 0)
        except (TypeError, ValueError):
            raise ValueError(f"dea.start: bad index {message.get('index')!r}") from None
        return cls(droplet=droplet, version=str(message.get("version") or ""), index=index,
                   name=str(message.get("name") or droplet),
                   uris=[str(u) for u in message.get("uris") or []],
                   limits=Limits.from_message(message.get("limits")),
                   env=[str(e) for e in env], services=list(message.get("services") or []),
                   start_command=message.get("start_command") or None,
                   sha1=message.get("sha1") or None, droplet_uri=message.get("droplet_uri") or None)

    def set_state(self, state: State) -> None:
        self.state = state
        self.state_timestamp = time.time()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES
