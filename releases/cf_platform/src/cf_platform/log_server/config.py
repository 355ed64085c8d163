"""The log server's configuration: one JSON file rendered by the job's template (log_server.json).

Every error names the key. ``senders`` says who may post lines and which source types each
may claim: a router's credentials cannot forge ``APP`` lines, a DEA's cannot forge ``RTR``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .log_line import SOURCES


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Sender:
    password: str
    sources: frozenset[str]

    def __repr__(self) -> str:  # the password stays out of tracebacks and logs
        return f"Sender(sources={sorted(self.sources)})"


@dataclass(frozen=True)
class LogServerConfig:
    cc_url: str                                  # followers are authorized by GET <cc_url>/v2/apps/<guid>
    senders: dict[str, Sender]
    listen_address: str = "0.0.0.0"
    port: int = 8084
    cc_internal_user: str | None = None          # for GET <cc_url>/internal/log_drains
    cc_internal_password: str | None = field(default=None, repr=False)
    recent_lines: int = 1000                     # per app
    max_apps: int = 10_000
    max_followers: int = 256
    max_senders: int = 64                        # connections beyond the followers' (senders, --recent)
    follower_queue: int = 2000
    max_batch_bytes: int = 1024 * 1024           # one POST of lines
    auth_cache_seconds: float = 5.0              # an accepted (token, app) is not re-asked this long
    reauthorize_interval: float = 60.0           # a live stream re-checks its token this often
    drain_refresh_interval: float = 30.0         # how often the CC is asked for syslog drains (0: never)
    drain_queue: int = 10_000                    # lines waiting per drain; more are dropped
    static_drains: dict[str, tuple[str, ...]] = field(default_factory=dict)   # app guid -> syslog URLs
    cc_timeout: float = 5.0
    log_level: str = "info"

    @classmethod
    def from_dict(cls, data: Any) -> LogServerConfig:
        if not isinstance(data, dict):
            raise ConfigError("config: expected a JSON object")
        data = dict(data)
        cc = data.pop("cloud_controller", None)
        if not isinstance(cc, dict) or not isinstance(cc.get("url"), str) or not cc["url"]:
            raise ConfigError("config: 'cloud_controller.url' is required")
        senders_raw = data.pop("senders", None)
        if not isinstance(senders_raw, dict) or not senders_raw:
            raise ConfigError("config: 'senders' is required (user: {password, sources})")
        senders: dict[str, Sender] = {}
        for user, raw in senders_raw.items():
            where = f"senders.{user}"
            if not isinstance(raw, dict) or not isinstance(raw.get("password"), str) or not raw["password"]:
                raise ConfigError(f"config: '{where}.password' is required")
            sources = raw.get("sources")
            if not isinstance(sources, list) or not sources or any(s not in SOURCES for s in sources):
                raise ConfigError(f"config: '{where}.sources' must list some of {', '.join(SOURCES)}")
            senders[str(user)] = Sender(raw["password"], frozenset(sources))
        drains_raw = data.pop("drains", None) or {}
        if not isinstance(drains_raw, dict):
            raise ConfigError("config: 'drains' must map app guids to lists of syslog:// URLs")
        static = {}
        for app, urls in drains_raw.items():
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise ConfigError(f"config: 'drains.{app}' must be a list of syslog:// URLs")
            static[str(app)] = tuple(urls)
        known = set(cls.__dataclass_fields__) - {"cc_url", "senders", "static_drains", "cc_internal_user",
                                                 "cc_internal_password"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config: unknown keys {', '.join(unknown)}")
        try:
            config = cls(cc_url=cc["url"].rstrip("/"), senders=senders,
                         cc_internal_user=cc.get("internal_user") or None,
                         cc_internal_password=cc.get("internal_password") or None,
                         static_drains=static, **data)
        except TypeError as error:
            raise ConfigError(f"config: {error}") from None
        for key in ("port", "recent_lines", "max_apps", "max_followers", "max_senders", "follower_queue",
                    "max_batch_bytes", "drain_queue"):
            value = getattr(config, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "port" else 1):
                raise ConfigError(f"config: '{key}' must be a positive integer")
        return config

    @classmethod
    def load(cls, path: Path) -> LogServerConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            if isinstance(error, ConfigError):
                raise ConfigError(f"config {path}: {error}") from None
            raise ConfigError(f"config {path}: {error}") from error
