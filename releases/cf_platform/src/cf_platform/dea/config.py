"""The DEA's configuration: one JSON file rendered by the job's template (dea.json).

Every key but ``ip`` and ``nats`` has a default, so tests can write a small file with a
temporary ``base_dir`` and their own ``cgroup_parent``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cf_platform.component import (
    ComponentConfigError,
    StatusSettings,
    parse_status_settings,
)
from cf_platform.log_server.emitter import EmitterSettings
from cf_platform.mbus import NatsConfig

from . import container_net


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class DeaConfig:
    ip: str                                  # where routers and health checks reach instances
    nats: NatsConfig
    id: str = ""                             # generated per process when empty (classic DEAs did)
    index: int = 0
    base_dir: Path = Path("/var/vcap/data/dea")
    buildpacks_dir: Path = Path("/var/vcap/packages/buildpacks")
    buildpacks: tuple[str, ...] = ("python", "staticfile")   # detect order
    stacks: tuple[str, ...] = ("bookworm",)
    memory_mb: int = 2048
    disk_mb: int = 16384
    port_range_start: int = 61001
    port_range_end: int = 61999
    heartbeat_interval: float = 2.0          # the HM judges the DEA lost after a few missed (dea_lost_after)
    advertise_interval: float = 5.0
    router_register_interval: float = 20.0
    health_check_timeout: float = 60.0
    stop_timeout: float = 10.0               # SIGTERM, then SIGKILL after this many seconds
    unregister_grace: float = 2.0            # routed instance: router.unregister, then this long before SIGTERM
    evacuation_timeout: float = 120.0        # drain: stop what is still here after this long
    crash_lifetime: float = 600.0            # crashed instances' logs stay findable this long
    staging_timeout: float = 110.0           # below the CC's 120 s request timeout
    max_bits_mb: int = 1024                  # refuse larger downloads/unpacked apps
    cgroup_root: Path = Path("/sys/fs/cgroup")
    cgroup_parent: str = "dea"
    require_cgroups: bool = True             # no enforced limits: refuse to start (fail closed)
    pids_max: int = 1024
    container_uid_base: int = 20000          # instance uid = base + (port - port_range_start)
    container_network: str = "10.254.0.0/20"  # one /30 per port slot (Warden's pool, grown)
    container_deny_egress: tuple[str, ...] = ()   # more IPv4 networks apps may not reach
    staging_uid: int = 19999                 # buildpacks run as this uid, never as root
    staging_memory_mb: int = 1024
    log_tail_lines: int = 100
    log_level: str = "info"
    log_server: EmitterSettings | None = None   # where app lines go (cf_platform.log_server); none: kept local
    log_poll_interval: float = 0.25          # seconds between two reads of the instances' log files
    status: StatusSettings | None = None     # CF v1's status port (/healthz, /varz); none: not served

    @property
    def instances_dir(self) -> Path:
        return self.base_dir / "instances"

    @property
    def droplets_dir(self) -> Path:
        return self.base_dir / "droplets"

    @property
    def staging_dir(self) -> Path:
        return self.base_dir / "staging"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeaConfig":
        if not isinstance(data, dict):
            raise ConfigError("config: expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config: unknown keys {', '.join(unknown)}")
        if not data.get("ip"):
            raise ConfigError("config: 'ip' is required")
        nats = data.get("nats") or {}
        servers = nats.get("servers")
        if isinstance(servers, str):
            servers = [servers]
        if not servers:
            raise ConfigError("config: 'nats.servers' is required")
        values: dict[str, Any] = dict(data)
        values["nats"] = NatsConfig(list(servers), nats.get("user") or None, nats.get("password") or None)
        for key in ("base_dir", "buildpacks_dir", "cgroup_root"):
            if key in values:
                values[key] = Path(values[key])
        for key in ("buildpacks", "stacks", "container_deny_egress"):
            if key in values:
                values[key] = tuple(values[key])
        try:
            values["log_server"] = EmitterSettings.parse(values.get("log_server"), "log_server")
            if values.get("status") is not None:
                values["status"] = parse_status_settings(values["status"], "status")
        except (ValueError, ComponentConfigError) as error:
            raise ConfigError(f"config: {error}") from None
        if not values.get("id"):
            values["id"] = f"{int(values.get('index', 0))}-{uuid.uuid4().hex}"
        config = cls(**values)
        if config.port_range_end < config.port_range_start:
            raise ConfigError("config: port_range_end is below port_range_start")
        try:
            pool = container_net.parse_pool(config.container_network)
        except container_net.ContainerNetworkError as error:
            raise ConfigError(f"config: {error}") from None
        needed = config.port_range_end - config.port_range_start + 1
        if container_net.slots(pool) < needed:
            raise ConfigError(f"config: container_network {pool} has room for {container_net.slots(pool)} "
                              f"containers (one /30 each), the port range for {needed}")
        parent = config.cgroup_parent
        if not isinstance(parent, str) or not parent or any(part in ("", ".", "..") for part in parent.split("/")):
            # the DEA removes every group below the parent as its own leftovers: an empty or
            # escaping name would take other groups (on cgroup v2, the whole tree's) with them
            raise ConfigError(f"config: cgroup_parent: expected a relative group name below cgroup_root "
                              f"(like 'dea'), got {parent!r}")
        for uid in (config.staging_uid, config.container_uid_base):
            if uid <= 0:
                raise ConfigError("config: staging_uid and container_uid_base must be above 0 (never root)")
        return config

    @classmethod
    def load(cls, path: Path) -> "DeaConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            raise ConfigError(f"config {path}: {error}") from error
