"""The cloud controller's configuration: one JSON file rendered from the job's properties.

A file rather than flags because it carries secrets (passwords, the token secret) that must
not show in the process list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cf_platform.mbus import NatsConfig


class ConfigError(Exception):
    """The configuration file is missing a value or has one of the wrong kind."""


@dataclass(frozen=True)
class CcConfig:
    port: int
    domain: str
    users: dict[str, str]          # user name -> password (password grant)
    token_secret: str
    internal_user: str
    internal_password: str
    data_dir: Path                 # SQLite file and blobstore live here (persistent disk)
    nats: NatsConfig
    bind: str = "0.0.0.0"
    external_host: str = "127.0.0.1"   # how DEAs reach this CC (the VM's IP)
    external_port: int | None = None   # defaults to port
    token_ttl: int = 86400
    staging_timeout: float = 120.0
    discover_timeout: float = 2.0      # classic discover delay is capped at 250 ms
    find_timeout: float = 1.0          # how long /instances and /stats wait for DEA answers
    max_upload_mb: int = 1024
    default_memory: int = 256
    default_disk: int = 1024
    default_fds: int = 16384
    log_level: str = "INFO"
    # HTTP connection bounds (connection_guard.py): headers due within, each read/write within
    http_header_timeout: float = 10.0
    http_io_timeout: float = 60.0
    http_max_connections: int = 256
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def advertised_port(self) -> int:
        return self.external_port or self.port

    @property
    def db_path(self) -> Path:
        return self.data_dir / "cloud_controller.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def _require(data: dict, key: str, kind: type) -> Any:
    if key not in data or data[key] is None:
        raise ConfigError(f"config: '{key}' is required")
    value = data[key]
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind) or (kind is str and not value):
        raise ConfigError(f"config: '{key}' must be a non-empty {kind.__name__}")
    return value


def parse_config(data: dict) -> CcConfig:
    """Validate a decoded config file; every error names the key."""
    nats = _require(data, "nats", dict)
    servers = _require(nats, "servers", list)
    if not servers or not all(isinstance(s, str) and s for s in servers):
        raise ConfigError("config: 'nats.servers' must list at least one nats:// URL")
    internal = _require(data, "internal_api", dict)
    users = _require(data, "users", dict)
    if not users or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in users.items()):
        raise ConfigError("config: 'users' must map user names to non-empty passwords")
    known = {"port", "domain", "users", "token_secret", "internal_api", "data_dir", "nats", "bind",
             "external_host", "external_port", "token_ttl", "staging_timeout", "discover_timeout",
             "find_timeout", "max_upload_mb", "default_memory", "default_disk", "default_fds", "log_level",
             "http_header_timeout", "http_io_timeout", "http_max_connections"}
    optional = {k: data[k] for k in known & data.keys()
                if k in {"bind", "external_host", "external_port", "token_ttl", "staging_timeout",
                         "discover_timeout", "find_timeout", "max_upload_mb", "default_memory",
                         "default_disk", "default_fds", "log_level", "http_header_timeout",
                         "http_io_timeout", "http_max_connections"} and data[k] is not None}
    return CcConfig(
        port=_require(data, "port", int),
        domain=_require(data, "domain", str),
        users=dict(users),
        token_secret=_require(data, "token_secret", str),
        internal_user=_require(internal, "user", str),
        internal_password=_require(internal, "password", str),
        data_dir=Path(_require(data, "data_dir", str)),
        nats=NatsConfig(list(servers), nats.get("user") or None, nats.get("password") or None),
        extra={k: v for k, v in data.items() if k not in known},
        **optional,
    )


def load_config(path: str | Path) -> CcConfig:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    except ValueError as e:
        raise ConfigError(f"config {path} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a JSON object")
    return parse_config(data)
