"""Director configuration: where state lives and how VMs reach the director.

Nothing here names an IaaS: the CPI is an executable plus its own config file, and the
address agents use (``agent_endpoint_host``) is whatever the operator's network puts in
front of the director (the bridge gateway on the local CPI, a private IP on a cloud).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_serializer, field_validator,
                      model_validator)

from bosh_py.director.private_files import write_private_text
from bosh_py.director.uaa_auth import UaaConfig
from bosh_py.errors import BoshPyError

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


MIN_PART = 5 << 20  # S3's smallest multipart part (all but the last)


class LocalBlobstoreConfig(BaseModel):
    """Blobs in a directory of this machine (the default: DATA_DIR/blobstore)."""

    model_config = ConfigDict(extra="forbid")
    provider: Literal["local"] = "local"
    path: Path | None = None


class S3BlobstoreConfig(BaseModel):
    """Blobs in an S3-compatible bucket (blobstore_s3.py), so directors and workers on other
    machines share them. Without ``access_key_id``/``secret_access_key`` boto3's own chain
    (environment, instance profile) provides credentials. The secret is a SecretStr: shown
    as stars in reprs and logs, written out only by ``DirectorConfig.save`` (a 0600 file)."""

    model_config = ConfigDict(extra="forbid")
    provider: Literal["s3"]
    bucket: str
    endpoint: str | None = None  # http(s)://host[:port]; None: AWS's own for the region
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]+$")
    access_key_id: str | None = Field(default=None, min_length=1)
    secret_access_key: SecretStr | None = None
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9._-]+/)*$")  # key prefix, e.g. "director-1/"
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    ca_cert: Path | None = None  # CA bundle of the endpoint's https (default: the system's)
    server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    multipart_threshold: int = Field(default=16 << 20, ge=MIN_PART)
    multipart_chunksize: int = Field(default=16 << 20, ge=MIN_PART)
    cache_dir: Path | None = None  # local copies for get_path (default DATA_DIR/blobstore-cache)
    cache_max_bytes: int = Field(default=4 << 30, gt=0)

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
            raise ValueError("an S3 bucket name is 3-63 lowercase letters, digits, dots and hyphens")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s@]+/?", value):
            raise ValueError("expected http(s)://host[:port], with no path and no credentials in it")
        return value

    @model_validator(mode="after")
    def _keys_come_in_pairs(self) -> "S3BlobstoreConfig":
        if (self.access_key_id is None) != (self.secret_access_key is None):
            given, missing = (("access_key_id", "secret_access_key") if self.access_key_id is not None
                              else ("secret_access_key", "access_key_id"))
            raise ValueError(f"{given} needs {missing} (or give neither, for boto3's credential chain)")
        return self

    @field_serializer("secret_access_key", when_used="json")
    def _reveal_for_save(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None


BlobstoreConfig = Annotated[LocalBlobstoreConfig | S3BlobstoreConfig, Field(discriminator="provider")]


class DirectorConfig(BaseModel):
    # inputs stay out of validation errors: they may be secrets (a key, a db_url's password)
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

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
    # task workers (worker.py): 0 runs every task in the API process itself, as many at once as
    # are queued; N starts N worker processes beside it, each running one task at a time (BOSH's)
    workers: int = Field(default=0, ge=0, le=64)
    # where a worker reaches the API process's nats-server (another machine's worker: its address)
    worker_nats_host: str = "127.0.0.1"
    max_orphaned_age_in_days: float = 5.0  # orphaned persistent disks are deleted after this (BOSH's name)
    blobstore: BlobstoreConfig = Field(default_factory=LocalBlobstoreConfig)  # docs/director-blobstore.md

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'director.db'}"

    @property
    def blobstore_dir(self) -> Path:
        local = self.blobstore.path if isinstance(self.blobstore, LocalBlobstoreConfig) else None
        return local or self.data_dir / "blobstore"

    @property
    def blobstore_cache_dir(self) -> Path:
        s3 = self.blobstore.cache_dir if isinstance(self.blobstore, S3BlobstoreConfig) else None
        return s3 or self.data_dir / "blobstore-cache"

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
        """A bad file is a BoshPyError naming the file and each bad key (never its value)."""
        if path is None or not path.exists():
            return cls()
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except ValidationError as error:
            raise BoshPyError(f"{path}: " + "; ".join(_config_error(e) for e in error.errors(include_input=False)))\
                from None


def _config_error(error: dict) -> str:
    """``blobstore/bucket: Field required``: the union's tag (``s3``) left out of the path."""
    loc = [str(part) for part in error["loc"]]
    if loc[:1] == ["blobstore"] and loc[1:2] in (["local"], ["s3"]):
        del loc[1]
    return f"{'/'.join(loc) or '(top level)'}: {error['msg'].removeprefix('Value error, ')}"
