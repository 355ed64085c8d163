"""What an action may use: one object handed to every action, so actions stay plain
functions and the agent keeps no global state."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bosh_py.agent.blobstore import BlobstoreClient
from bosh_py.agent.installer import Installer
from bosh_py.agent.paths import Paths
from bosh_py.agent.settings import Settings, write_json_private
from bosh_py.agent.state import AgentState
from bosh_py.agent.supervisor import Supervisor
from bosh_py.agent.tasks import TaskManager
from bosh_py.agent.vitals import VitalsSampler


@dataclass
class ActionContext:
    paths: Paths
    settings_path: Path
    settings: Settings
    state: AgentState
    supervisor: Supervisor
    tasks: TaskManager
    vitals: VitalsSampler
    log: logging.Logger
    # apply/start/stop/drain/disk changes one at a time: they all touch the jobs.
    jobs_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    compile_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def blobstore(self) -> BlobstoreClient:
        return BlobstoreClient.from_settings(self.settings.blobstore)

    def installer(self) -> Installer:
        return Installer(self.paths, self.blobstore(), self.log)

    def load_spec(self) -> dict[str, Any]:
        try:
            return json.loads(self.paths.spec_json.read_text())
        except (OSError, ValueError):
            return {}

    def save_spec(self, spec: dict[str, Any]) -> None:
        write_json_private(self.paths.spec_json, spec)
