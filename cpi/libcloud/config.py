"""The libcloud CPI's configuration: which provider, and that provider's own section.

The config file holds the IaaS credentials, so it is read from a path (the director writes
it from ``((vars))``), never from a manifest; ``secrets()`` lists the values that must
never appear in a response or log. Credentials may instead come from the CPI's environment
(``credentials_source: env``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpi.libcloud.errors import InvalidCall

CONFIG_ENV = "BOSH_PY_CPI_CONFIG"
# With `credentials_source: env` a provider's credentials come from the CPI's environment
# (the director's, e.g. a systemd EnvironmentFile) under the names each IaaS's own tools use,
# so they need not sit in any file the director writes (BOSH's AWS CPI: env_or_profile).
ENV_CREDENTIALS: dict[str, dict[str, str]] = {
    "aws": {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY",
            "session_token": "AWS_SESSION_TOKEN"},
    "openstack": {"password": "OS_PASSWORD"},
    "vsphere": {"password": "VSPHERE_PASSWORD"},
}
OPTIONAL_ENV_CREDENTIALS = frozenset({"AWS_SESSION_TOKEN"})
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
    return Config(provider, with_credentials_source(provider, settings, os.environ), agent)


def with_credentials_source(provider: str, settings: dict[str, Any],
                            environ: Mapping[str, str]) -> dict[str, Any]:
    """``settings`` with its credentials filled from ``environ`` when ``credentials_source``
    is ``env``; ``static`` (the default) leaves them as the config file has them."""
    source = settings.get("credentials_source", "static")
    if source == "static":
        return settings
    if source != "env":
        raise InvalidCall(f"CPI config {provider}.credentials_source: {source!r} is not "
                          "'static' or 'env'")
    names = ENV_CREDENTIALS.get(provider, {})
    if not names:
        raise InvalidCall(f"CPI config {provider}.credentials_source: 'env' is not supported "
                          f"for provider {provider!r}")
    filled = dict(settings)
    for key, variable in names.items():
        if key in settings:
            raise InvalidCall(f"CPI config {provider}.{key}: set in the config while "
                              f"credentials_source is 'env' (it comes from ${variable})")
        value = environ.get(variable)
        if value:
            filled[key] = value
        elif variable not in OPTIONAL_ENV_CREDENTIALS:
            raise InvalidCall(f"CPI config {provider}.credentials_source is 'env' but "
                              f"${variable} is not set in the CPI's environment")
    return filled
