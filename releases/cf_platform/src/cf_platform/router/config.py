"""The router's configuration: one JSON file rendered by the job template (config/router.json).

Why JSON: the stemcell's python3 reads it with the standard library, and the job template
renders it with ``tojson`` so no value (a password with quotes, say) can break the syntax.
Every key but ``nats.servers`` has a default, so tests can write a small file.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cf_platform.component import (
    ComponentConfigError,
    StatusSettings,
    parse_index,
    parse_status_settings,
)
from cf_platform.log_server.emitter import EmitterSettings
from cf_platform.mbus import NatsConfig


class ConfigError(ValueError):
    """The configuration file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class NginxSettings:
    """The data plane. Paths default to the BOSH layout of the router job."""

    binary: str = "/var/vcap/packages/nginx/bin/nginx"
    run_dir: str = "/var/vcap/data/router/nginx"
    log_dir: str = "/var/vcap/sys/log/router"
    worker_processes: str = "auto"
    worker_connections: int = 8192
    access_log: bool = True
    connect_timeout: float = 1.0  # a backend on the VM network connects in milliseconds; a dead one never
    request_timeout: float = 900.0
    backend_keepalive: int = 32
    backend_idle_timeout: float = 1.0
    max_retries: int = 3
    reuseport: bool = True
    # Route changes are coalesced: the first change of a burst waits this long for the rest,
    # then one reload applies them all (so at most one reload per window, however fast the
    # table churns). Each reload leaves the old workers finishing their requests:
    # worker_shutdown_timeout bounds how long (and so how many old workers can pile up).
    reload_debounce: float = 0.2
    worker_shutdown_timeout: float = 60.0
    user: str | None = None  # workers' "user group" when started as root; None: nobody nogroup
    # one metric line per request to the control plane (request_metrics.py), for /metrics;
    # off: /metrics keeps the table's gauges, without request counts and latency
    request_metrics: bool = True


@dataclass(frozen=True)
class DrainSettings:
    """gorouter's drain (router.drain_wait, router.drain_timeout), started by SIGUSR1 from the
    job's bin/drain: /health answers 503 at once so the load balancer takes the router out,
    nginx keeps serving for ``wait`` seconds (the balancer's health checks need that long to
    notice), then stops accepting and finishes the requests in flight, for at most
    ``timeout`` seconds. ``state_file`` is where the router says "draining"/"drained" for
    bin/drain."""

    wait: float = 5.0
    timeout: float = 60.0
    state_file: str | None = None


@dataclass(frozen=True)
class RouterConfig:
    nats: NatsConfig
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ip: str = "127.0.0.1"
    index: int = 0  # the job's spec.index: announced on vcap.component.announce
    listen_address: str = "0.0.0.0"
    port: int = 80
    status: StatusSettings = field(default_factory=StatusSettings)
    nginx: NginxSettings = field(default_factory=NginxSettings)
    drain: DrainSettings = field(default_factory=DrainSettings)
    pid_file: str | None = None  # the control plane's PID, for bin/drain's SIGUSR1
    prune_threshold: float = 120.0
    prune_interval: float = 30.0
    register_interval: int = 20
    suspend_pruning_if_nats_unavailable: bool = True
    # gorouter's option: X-Forwarded-Proto from the client connection's own scheme. True here
    # because this router is the platform's edge; false only behind a proxy that sets it.
    sanitize_forwarded_proto: bool = True
    # the log server the apps' access lines (RTR) go to (app_access_logs.py); None: not sent
    log_server: EmitterSettings | None = None

    def greeting(self) -> dict[str, Any]:
        """The router.start message, also the reply to router.greet."""
        return {"id": self.id, "hosts": [self.ip],
                "minimumRegisterIntervalInSeconds": self.register_interval,
                "pruneThresholdInSeconds": int(self.prune_threshold)}


def _section(cls: type, raw: Any, name: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected an object")
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{name}: unknown keys {sorted(unknown)}")
    try:
        return cls(**raw)
    except TypeError as e:
        raise ConfigError(f"{name}: {e}") from None


def _status_section(raw: Any) -> StatusSettings:
    try:
        return parse_status_settings(raw, "status")
    except ComponentConfigError as e:
        raise ConfigError(str(e)) from None


def _log_server_section(raw: Any) -> EmitterSettings | None:
    try:
        return EmitterSettings.parse(raw, "log_server")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def parse_config(raw: Any) -> RouterConfig:
    if not isinstance(raw, dict):
        raise ConfigError("the router configuration must be a JSON object")
    nats_raw = raw.get("nats")
    if not isinstance(nats_raw, dict) or not nats_raw.get("servers"):
        raise ConfigError("nats.servers: at least one NATS server URL is required")
    top = {k: v for k, v in raw.items() if k not in ("nats", "status", "nginx", "drain", "log_server")}
    unknown = set(top) - set(RouterConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)}")
    config = RouterConfig(nats=_section(NatsConfig, nats_raw, "nats"),
                          status=_status_section(raw.get("status")),
                          nginx=_section(NginxSettings, raw.get("nginx"), "nginx"),
                          drain=_section(DrainSettings, raw.get("drain"), "drain"),
                          log_server=_log_server_section(raw.get("log_server")), **top)
    try:
        parse_index(config.index)
    except ComponentConfigError as e:
        raise ConfigError(str(e)) from None
    if bool(config.status.user) != bool(config.status.password):
        raise ConfigError("status.user and status.password go together")
    if config.prune_threshold <= 0 or config.prune_interval <= 0:
        raise ConfigError("prune_threshold and prune_interval must be positive")
    for name, value in (("drain.wait", config.drain.wait), ("drain.timeout", config.drain.timeout),
                        ("nginx.reload_debounce", config.nginx.reload_debounce),
                        ("nginx.worker_shutdown_timeout", config.nginx.worker_shutdown_timeout)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{name}: expected a number of seconds >= 0, not {value!r}")
    if config.nginx.worker_shutdown_timeout < 0.001:
        raise ConfigError("nginx.worker_shutdown_timeout: must be positive")
    return config


def load_config(path: str | Path) -> RouterConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not JSON: {e}") from None
    return parse_config(raw)
