"""Where ``cf-py`` keeps its target and tokens: ``~/.cf-py/config.json`` (0600), or the file
named by ``CF_PY_CONFIG`` (tests, several targets side by side). The target is the API, the
UAA it names (``token_endpoint``), and the org and space commands act in."""

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
    refresh_token: str | None = None
    token_endpoint: str | None = None     # the UAA (None: the CC's built-in issuer)
    org: str | None = None
    org_guid: str | None = None
    space: str | None = None
    space_guid: str | None = None

    def forget_login(self) -> None:
        self.token = self.refresh_token = self.user = None
        self.org = self.org_guid = self.space = self.space_guid = None


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
    if not isinstance(data, dict):
        raise CfError(f"Cannot read {path}: not a JSON object")
    return ClientConfig(**{k: data.get(k) for k in ClientConfig.__dataclass_fields__})


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
