"""The UAA's configuration: one JSON file rendered from the job's properties.

A file rather than flags: it carries the signing key, client secrets and bootstrap passwords,
which must not show in the process list. Errors name the key path in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..component import (
    ComponentConfigError,
    StatusSettings,
    parse_index,
    parse_nats_settings,
    parse_status_settings,
)
from .errors import UaaError

GRANT_TYPES = ("password", "refresh_token", "client_credentials")
# what a user made through SCIM belongs to (UAA's uaa.user group set, the CF part of it)
DEFAULT_GROUPS = ("openid", "cloud_controller.read", "cloud_controller.write", "uaa.user")


class ConfigError(UaaError):
    """The configuration file is missing a value or has one of the wrong kind."""


@dataclass(frozen=True)
class ClientConfig:
    client_id: str
    secret: str                     # "" for a public client (cf, as Cloud Foundry's)
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]          # what user tokens through this client may carry
    authorities: tuple[str, ...]    # what client_credentials tokens carry


@dataclass(frozen=True)
class UserConfig:
    name: str
    password: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class UaaConfig:
    port: int
    issuer: str                     # base URL; tokens say iss = <issuer>/oauth/token
    data_dir: Path                  # SQLite lives here (the persistent disk on a VM)
    signing_key_id: str
    signing_key_pem: str
    clients: tuple[ClientConfig, ...]
    users: tuple[UserConfig, ...]
    bind: str = "0.0.0.0"
    access_token_validity: int = 43200
    refresh_token_validity: int = 2592000
    default_groups: tuple[str, ...] = DEFAULT_GROUPS
    log_level: str = "INFO"
    http_io_timeout: float = 30.0
    # CF v1's component (cf_platform/component.py): a status port only with status credentials,
    # announced on NATS only with a nats section (the job's optional nats link)
    status: StatusSettings | None = None
    index: int = 0                  # the job's spec.index, announced
    host: str = "127.0.0.1"         # the VM's address: the announcement's host is host:status port
    nats: Any = None                # cf_platform.mbus.NatsConfig

    @property
    def db_path(self) -> Path:
        return self.data_dir / "uaa.sqlite3"


def _get(raw: dict, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in raw or raw[key] is None:
        if default is ...:
            raise ConfigError(f"{where}{key}: required")
        return default
    value = raw[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}{key}: expected {names}, got {type(value).__name__}")
    return value


def _strings(raw: dict, key: str, where: str) -> tuple[str, ...]:
    """A list of strings, or (as UAA's job properties write them) one comma-separated string."""
    values = _get(raw, key, (list, str), where, [])
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}{key}/{i}: expected a non-empty string")
    return tuple(values)


def _client(client_id: str, raw: Any, where: str) -> ClientConfig:
    """One client in UAA's property shape: ``authorized-grant-types``, ``scope``,
    ``authorities`` (lists or comma-separated), ``secret`` (empty for a public client)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object")
    where += "/"
    unknown = set(raw) - {"authorized-grant-types", "scope", "authorities", "secret", "override"}
    if unknown:
        raise ConfigError(f"{where}{min(unknown)}: unknown client setting")
    grants = _strings(raw, "authorized-grant-types", where)
    if not grants:
        raise ConfigError(f"{where}authorized-grant-types: required")
    for g in grants:
        if g not in GRANT_TYPES:
            raise ConfigError(f"{where}authorized-grant-types: unknown grant type {g!r} "
                              f"(known: {', '.join(GRANT_TYPES)})")
    secret = _get(raw, "secret", str, where, "")
    if "client_credentials" in grants and not secret:
        raise ConfigError(f"{where}secret: a client with the client_credentials grant needs a secret")
    return ClientConfig(client_id, secret, grants, _strings(raw, "scope", where),
                        _strings(raw, "authorities", where))


def _user(raw: Any, i: int) -> UserConfig:
    where = f"users/{i}/"
    if not isinstance(raw, dict):
        raise ConfigError(f"users/{i}: expected an object")
    password = _get(raw, "password", str, where)
    if not password:
        raise ConfigError(f"{where}password: must not be empty")
    return UserConfig(_get(raw, "name", str, where), password, _strings(raw, "groups", where))


def parse_config(raw: Any) -> UaaConfig:
    if not isinstance(raw, dict):
        raise ConfigError("expected a JSON object")
    jwt = _get(raw, "jwt", dict, "")
    clients = tuple(_client(cid, c, f"clients/{cid}") for cid, c in _get(raw, "clients", dict, "", {}).items())
    port = _get(raw, "port", int, "")
    if not 0 <= port <= 65535:
        raise ConfigError(f"port: {port} is not a TCP port")
    validity = {k: _get(raw, k, int, "", d) for k, d in
                (("access_token_validity", 43200), ("refresh_token_validity", 2592000))}
    for k, v in validity.items():
        if v <= 0:
            raise ConfigError(f"{k}: must be a positive number of seconds")
    try:
        component = {"status": parse_status_settings(raw["status"]) if raw.get("status") is not None else None,
                     "index": parse_index(raw.get("index")), "nats": parse_nats_settings(raw.get("nats")),
                     "host": _get(raw, "host", str, "", "127.0.0.1")}
    except ComponentConfigError as e:
        raise ConfigError(str(e)) from None
    if component["status"] is not None and component["status"].credentials is None:
        raise ConfigError("status: user and password are required (the status port is served only with them)")
    return UaaConfig(
        **component,
        port=port, issuer=_get(raw, "issuer", str, "").rstrip("/"),
        data_dir=Path(_get(raw, "data_dir", str, "")),
        signing_key_id=_get(jwt, "key_id", str, "jwt/", "key-1"),
        signing_key_pem=_get(jwt, "signing_key", str, "jwt/"),
        clients=clients,
        users=tuple(_user(u, i) for i, u in enumerate(_get(raw, "users", list, "", []))),
        bind=_get(raw, "bind", str, "", "0.0.0.0"),
        default_groups=_strings(raw, "default_groups", "") or DEFAULT_GROUPS,
        log_level=_get(raw, "log_level", str, "", "info").upper(),
        http_io_timeout=float(_get(raw, "http_io_timeout", (int, float), "", 30.0)),
        **validity)


def load_config(path: str | Path) -> UaaConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{path} is not JSON: {e}") from None
    try:
        return parse_config(raw)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
