"""Director configuration: where state lives and how VMs reach the director.

Nothing here names an IaaS: the CPI is an executable plus its own config file, and the
address agents use (``agent_endpoint_host``) is whatever the operator's network puts in
front of the director (the bridge gateway on the local CPI, a private IP on a cloud).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bosh_py.director.private_files import write_private_text
from bosh_py.director.uaa_auth import UaaConfig

DEFAULT_DATA_DIR = Path("/var/lib/bosh-py/director")


def bundled_cpi() -> str:
    """The local CPI installed beside this Python (the venv's bin/), found without PATH."""
    return str(Path(sys.executable).parent / "bosh-py-cpi-local")


class CpiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    executable: str = Field(default_factory=bundled_cpi)
    config_path: str | None = None


class WebhookConfig(BaseModel):
    """Where the health monitor POSTs its alerts (monitor/webhook.py). ``secret`` signs each
    body (HMAC-SHA256); it is never logged or shown."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None
    timeout: float = Field(default=5.0, gt=0)
    attempts: int = Field(default=3, ge=1, le=10)
    retry_pause: float = Field(default=1.0, ge=0)


class HealthMonitorConfig(BaseModel):
    """The resurrector's rules. docs/health.md says why these defaults: BOSH notices a dead
    VM after 60-120 s (heartbeat 30 s, agent_timeout 60 s, analysis every 60 s); VMs here
    boot in a fraction of a second, so waiting that long buys nothing. An agent silent for
    ``suspect_after`` seconds is checked for direct evidence of death (its NATS connection
    gone, its VM gone per the CPI's has_vm) and recreated without waiting for the timeout."""

    model_config = ConfigDict(extra="forbid")
    resurrector_enabled: bool = True
    agent_timeout: float = 6.0  # three missed heartbeats; one more confirms (docs/health.md)
    analysis_interval: float = 1.0
    minimum_down_jobs: int = 5
    percent_threshold: float = 0.2
    suspect_after: float = 3.0  # seconds of silence before looking for evidence (0: never look)
    vm_check_interval: float = 10.0  # at most one has_vm per VM this often
    webhook: WebhookConfig | None = None


class DirectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "bosh-py"
    data_dir: Path = DEFAULT_DATA_DIR
    db_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 25555
    agent_endpoint_host: str = "10.244.0.1"
    nats_listen_host: str = "0.0.0.0"
    nats_port: int = 4222
    blobstore_listen_host: str = "0.0.0.0"
    blobstore_port: int = 25250
    # the most one agent upload (a compiled package, a logs archive) may hold
    agent_upload_max_bytes: int = Field(default=2 << 30, gt=0)
    # the most the director downloads for `upload-release URL`
    remote_release_max_bytes: int = Field(default=10 << 30, gt=0)
    cpi: CpiConfig = Field(default_factory=CpiConfig)
    health_monitor: HealthMonitorConfig = Field(default_factory=HealthMonitorConfig)
    uaa: UaaConfig | None = None  # also accept UAA tokens (uaa_auth.py, docs/director-uaa.md)
    heartbeat_interval: float = 2.0  # agents' heartbeat period (docs/health.md)
    agent_wait_timeout: int = 120
    rpc_timeout: int = 45
    lock_ttl: int = 60
    max_orphaned_age_in_days: float = 5.0  # orphaned persistent disks are deleted after this (BOSH's name)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'director.db'}"

    @property
    def blobstore_dir(self) -> Path:
        return self.data_dir / "blobstore"

    @property
    def tasks_dir(self) -> Path:
        return self.data_dir / "tasks"

    @property
    def secrets_path(self) -> Path:
        return self.data_dir / "secrets.json"

    @property
    def agent_blobstore_key_path(self) -> Path:
        """The key every agent's blobstore password derives from (agent_credentials.py)."""
        return self.data_dir / "agent-blobstore.key"

    def save(self, path: Path) -> None:
        """Written 0600: it names the database, whose URL may carry a password."""
        write_private_text(path, self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: Path | None) -> "DirectorConfig":
        if path is None or not path.exists():
            return cls()
        return cls.model_validate(json.loads(path.read_text()))
