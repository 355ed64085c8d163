"""The log server's configuration: one JSON file rendered by the job's template (log_server.json).

Every error names the key. ``senders`` says who may post lines and which source types each
may claim: a router's credentials cannot forge ``APP`` lines, a DEA's cannot forge ``RTR``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..component import (
    ComponentConfigError,
    StatusSettings,
    parse_index,
    parse_nats_settings,
    parse_status_settings,
)
from .drain_policy import BadRange, DrainPolicy, parse_range
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
    # where drains may connect (drain_policy.py): loopback, link-local, ... always blocked;
    # drain_blocked_ranges adds the platform's networks, drain_allowed_ranges carves exceptions
    drain_policy: DrainPolicy = field(default_factory=DrainPolicy)
    cc_timeout: float = 5.0
    log_level: str = "info"
    # CF v1's component (cf_platform/component.py): a status port only with status credentials,
    # announced on NATS only with a nats section (the job's optional nats link)
    status: StatusSettings | None = field(default=None, repr=False)   # holds a password
    index: int = 0                               # the job's spec.index, announced
    host: str = "127.0.0.1"                      # the VM's address: the announcement's host is host:status port
    nats: Any = field(default=None, repr=False)  # cf_platform.mbus.NatsConfig (holds a password)

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
        policy = DrainPolicy(_ranges(data.pop("drain_blocked_ranges", None), "drain_blocked_ranges", strict=False),
                             _ranges(data.pop("drain_allowed_ranges", None), "drain_allowed_ranges", strict=True))
        try:
            status = parse_status_settings(data.pop("status"), "status") if data.get("status") is not None else None
            component = {"status": status, "index": parse_index(data.pop("index", None)),
                         "nats": parse_nats_settings(data.pop("nats", None))}
        except ComponentConfigError as error:
            raise ConfigError(f"config: {error}") from None
        data.pop("status", None)
        if status is not None and status.credentials is None:
            raise ConfigError("config: 'status.user' and 'status.password' are required (the status port "
                              "is served only with them)")
        if not isinstance(data.get("host", ""), str):
            raise ConfigError("config: 'host' must be a string (the VM's address)")
        known = set(cls.__dataclass_fields__) - {"cc_url", "senders", "static_drains", "cc_internal_user",
                                                 "cc_internal_password", "status", "index", "nats",
                                                 "drain_policy"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config: unknown keys {', '.join(unknown)}")
        try:
            config = cls(cc_url=cc["url"].rstrip("/"), senders=senders,
                         cc_internal_user=cc.get("internal_user") or None,
                         cc_internal_password=cc.get("internal_password") or None,
                         static_drains=static, drain_policy=policy, **component, **data)
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


_PROPERTY = {"drain_blocked_ranges": "log_server.drains.blocked_ranges (and the VM's own networks)",
             "drain_allowed_ranges": "log_server.drains.allowed_ranges"}


def _ranges(raw: object, key: str, strict: bool) -> tuple:
    """A list of CIDRs / addresses / a-b ranges; errors name the key, the entry and the job property."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"config: '{key}' must be a list of CIDRs or a.b.c.d-e.f.g.h ranges ({_PROPERTY[key]})")
    ranges = []
    for i, text in enumerate(raw):
        try:
            ranges.append(parse_range(text, strict=strict))
        except BadRange as error:
            raise ConfigError(f"config: '{key}[{i}]': {error} ({_PROPERTY[key]})") from None
    return tuple(ranges)
