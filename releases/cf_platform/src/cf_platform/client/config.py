"""Where ``cf-py`` keeps its target and token: ``~/.cf-py/config.json`` (0600), or the file
named by ``CF_PY_CONFIG`` (tests, several targets side by side)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import CfError

ENV_VAR = "CF_PY_CONFIG"


@dataclass
class ClientConfig:
    api: str | None = None
    token: str | None = None
    user: str | None = None


def config_path() -> Path:
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else Path.home() / ".cf-py" / "config.json"


def load() -> ClientConfig:
    path = config_path()
    if not path.exists():
        return ClientConfig()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CfError(f"Cannot read {path}: {e}") from e
    return ClientConfig(**{k: data.get(k) for k in ("api", "token", "user")})


def save(config: ClientConfig) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(config), f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
