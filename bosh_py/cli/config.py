"""The user's CLI config: which director to talk to and its credentials (0600, never printed)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from bosh_py.errors import BoshPyError


def config_path() -> Path:
    return Path(os.environ.get("BOSH_PY_CONFIG", Path.home() / ".bosh-py" / "config.json"))


@dataclass
class CliConfig:
    url: str
    user: str
    password: str
    uaa_login: dict | None = None  # `bosh-py login`'s token, used instead of user/password (uaa_session.py)


def load_cli_config() -> CliConfig:
    path = config_path()
    if not path.exists():
        raise BoshPyError(f"No director configured ({path} is missing): run `bosh-py director start` first")
    return CliConfig(**json.loads(path.read_text()))


def save_cli_config(config: CliConfig) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file an older version left 0644 holds the admin password too
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(config), out)
    return path
