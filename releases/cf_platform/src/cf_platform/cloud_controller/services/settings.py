"""The ``services`` block of the CC's config file (optional; defaults suit a deployment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ServiceSettings:
    broker_timeout: float = 60.0          # seconds for one broker request (OSB's recommendation)
    poll_interval: float = 5.0            # between last_operation polls
    max_poll_duration: float = 7 * 86400  # then the operation is marked failed (CF's default: 1 week)


def parse_settings(raw: Any) -> ServiceSettings:
    if raw is None:
        return ServiceSettings()
    if not isinstance(raw, dict):
        raise SettingsError("config: 'services' must be an object")
    values: dict[str, float] = {}
    for key in ("broker_timeout", "poll_interval", "max_poll_duration"):
        if key in raw and raw[key] is not None:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SettingsError(f"config: 'services.{key}' must be a positive number of seconds")
            values[key] = float(value)
    unknown = set(raw) - {"broker_timeout", "poll_interval", "max_poll_duration"}
    if unknown:
        raise SettingsError(f"config: 'services' has unknown keys: {', '.join(sorted(unknown))}")
    return ServiceSettings(**values)
