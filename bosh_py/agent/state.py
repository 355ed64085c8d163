"""What the agent must remember across its own restarts and VM reboots: whether jobs
should be running, and which persistent disks it mounted (to mount them again)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bosh_py.agent.settings import write_json_private


@dataclass
class AgentState:
    path: Path
    desired_job_state: str = "stopped"  # "running" after start, "stopped" after stop
    disks: dict[str, dict[str, Any]] = field(default_factory=dict)  # cid -> {"hint", "device"}

    @classmethod
    def load(cls, path: Path) -> "AgentState":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return cls(path)
        return cls(path, str(data.get("desired_job_state", "stopped")),
                   dict(data.get("disks") or {}))

    def save(self) -> None:
        write_json_private(self.path, {"desired_job_state": self.desired_job_state,
                                       "disks": self.disks})
