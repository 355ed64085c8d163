"""The health manager's configuration: one JSON file rendered from the job's properties."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..component import ComponentConfigError, StatusSettings, parse_index, parse_status_settings
from ..log_server.emitter import EmitterSettings
from .decisions import Policy


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class HmConfig:
    nats_servers: list[str]
    nats_user: str | None
    nats_password: str | None
    cc_url: str
    cc_user: str
    cc_password: str
    policy: Policy
    poll_interval: float = 5.0
    decide_interval: float = 1.0
    log_level: str = "INFO"
    status: StatusSettings | None = None  # CF v1's status port (component.py); none without it
    index: int = 0                        # the job's spec.index, announced with the status port
    host: str = "127.0.0.1"               # the VM's address: the announcement's host is host:port
    log_server: EmitterSettings | None = None   # its decisions as HM lines of the app (docs/logs.md)


def parse_config(data: dict) -> HmConfig:
    try:
        nats = data["nats"]
        cc = data["cc"]
        servers = list(nats["servers"])
        if not servers:
            raise ConfigError("config: 'nats.servers' must list at least one nats:// URL")
        backoff = data.get("crash_backoff") or {}
        defaults = Policy()
        heartbeat = float(data.get("heartbeat_interval", defaults.heartbeat_interval))
        poll = float(data.get("poll_interval", 5.0))
        policy = Policy(
            heartbeat_interval=heartbeat,
            missing_after=float(data.get("missing_after", defaults.missing_after)),
            immediate_restarts=int(backoff.get("immediate", defaults.immediate_restarts)),
            backoff_base=float(backoff.get("base", defaults.backoff_base)),
            backoff_max=float(backoff.get("max", defaults.backoff_max)),
            crash_reset_after=float(backoff.get("reset_after", defaults.crash_reset_after)),
            desired_stale_after=float(data.get("desired_stale_after", max(60.0, 6 * poll))),
            dea_lost_after=float(data.get("dea_lost_after", defaults.dea_lost_after)),
        )
        if policy.dea_lost_after < 2:
            raise ConfigError(f"config: 'dea_lost_after' must be at least 2 heartbeat intervals (one late "
                              f"heartbeat is not a lost DEA), not {policy.dea_lost_after:g}")
        return HmConfig(servers, nats.get("user") or None, nats.get("password") or None, str(cc["url"]).rstrip("/"),
                        str(cc["user"]), str(cc["password"]), policy, poll,
                        float(data.get("decide_interval", min(0.5, heartbeat / 2))),
                        str(data.get("log_level", "INFO")),
                        parse_status_settings(data["status"], "status") if data.get("status") is not None else None,
                        parse_index(data.get("index")), str(data.get("host") or "127.0.0.1"),
                        EmitterSettings.parse(data.get("log_server"), "log_server"))
    except KeyError as e:
        raise ConfigError(f"config: '{e.args[0]}' is required") from None
    except (TypeError, ValueError, ComponentConfigError) as e:
        raise ConfigError(f"config: {e}") from None


def load_config(path: str | Path) -> HmConfig:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a JSON object")
    return parse_config(data)
