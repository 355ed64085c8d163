"""The libcloud CPI's configuration: which provider, and that provider's own section.

The config file holds the IaaS credentials, so it is read from a path (the director writes
it from ``((vars))``), never from a manifest; ``secrets()`` lists the values that must
never appear in a response or log.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpi.libcloud.errors import InvalidCall

CONFIG_ENV = "BOSH_PY_CPI_CONFIG"
SECRET_KEYS = frozenset({"access_key_id", "secret_access_key", "password", "token",
                         "session_token", "application_credential_secret"})


@dataclass(frozen=True)
class Config:
    provider: str
    settings: dict[str, Any] = field(repr=False)  # the provider's section, credentials included
    agent: dict[str, Any] = field(default_factory=dict)  # merged into the VM's settings (mbus …)

    def secrets(self) -> list[str]:
        """Credential values, longest first (so a redaction never leaves a tail)."""
        values = [str(v) for k, v in self.settings.items() if k in SECRET_KEYS and v]
        return sorted(values, key=len, reverse=True)


def load_config(path: str | None) -> Config:
    """Read the JSON config at ``path`` (or $BOSH_PY_CPI_CONFIG); there are no defaults,
    so a missing config can never fall back to some real cloud account."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        raise InvalidCall(f"no CPI config: pass its path as the argument or in ${CONFIG_ENV}")
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InvalidCall(f"cannot read CPI config {path}: {error}") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("provider"), str):
        raise InvalidCall(f"CPI config {path}: needs a string 'provider' (e.g. \"aws\")")
    provider = raw["provider"]
    settings = raw.get(provider)
    if not isinstance(settings, dict):
        raise InvalidCall(f"CPI config {path}: needs an object '{provider}' with the "
                          f"{provider} provider's settings")
    agent = raw.get("agent") or {}
    if not isinstance(agent, dict):
        raise InvalidCall(f"CPI config {path}: 'agent' must be an object")
    return Config(provider, settings, agent)
