"""The broker's configuration: one JSON file (it holds passwords, so not flags)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class PostgresTarget:
    host: str                 # a host name, an IP, or a Unix socket directory
    port: int
    admin_user: str           # needs CREATEDB and CREATEROLE (a superuser works)
    admin_password: str | None
    admin_database: str = "postgres"
    psql: str = "psql"
    timeout: float = 30.0


@dataclass(frozen=True)
class BrokerConfig:
    port: int
    username: str
    password: str
    postgres: PostgresTarget
    credentials_host: str      # the address apps connect to (defaults to postgres.host)
    bind: str = "0.0.0.0"
    service_id: str = "9d4b2f6e-3c1a-4f0e-8b7a-postgresql0001"
    service_name: str = "postgresql"
    plan_id: str = "5e3f8c2a-7d61-4b9e-a0c4-postgresql0002"
    plan_name: str = "default"
    log_level: str = "INFO"

    def __repr__(self) -> str:
        return f"BrokerConfig(bind={self.bind!r}, port={self.port}, service={self.service_name!r})"


def _get(data: dict, key: str, kind: type, where: str = "", required: bool = True, default: Any = None) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigError(f"config: '{where}{key}' is required")
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value):
        raise ConfigError(f"config: '{where}{key}' must be a non-empty {kind.__name__}")
    return value


def parse_config(data: Any) -> BrokerConfig:
    if not isinstance(data, dict):
        raise ConfigError("config: expected a JSON object")
    pg = _get(data, "postgres", dict)
    target = PostgresTarget(
        host=_get(pg, "host", str, "postgres."), port=_get(pg, "port", int, "postgres.", False, 5432),
        admin_user=_get(pg, "admin_user", str, "postgres."),
        admin_password=_get(pg, "admin_password", str, "postgres.", False),
        admin_database=_get(pg, "admin_database", str, "postgres.", False, "postgres"),
        psql=_get(pg, "psql", str, "postgres.", False, "psql"),
        timeout=_get(pg, "timeout", float, "postgres.", False, 30.0))
    optional = {k: _get(data, k, str, required=False) for k in ("bind", "service_id", "service_name", "plan_id",
                                                               "plan_name", "log_level")}
    return BrokerConfig(port=_get(data, "port", int), username=_get(data, "username", str),
                        password=_get(data, "password", str), postgres=target,
                        credentials_host=_get(data, "credentials_host", str, required=False, default=target.host),
                        **{k: v for k, v in optional.items() if v is not None})


def load_config(path: str | Path) -> BrokerConfig:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    except ValueError as e:
        raise ConfigError(f"config {path} is not JSON: {e}") from e
    return parse_config(data)
