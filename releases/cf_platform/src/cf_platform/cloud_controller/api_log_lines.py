"""The cloud controller's ``API/<index>`` lines: what happened to an app, in its `cf-py logs`.

As the classic cloud controller told loggregator (``[API/0] OUT Updated app with guid …
({"state"=>"STARTED"})``), this CC tells the log server about app creation, changes (the
fields that changed, in the Ruby hash form the cf CLI users know), deletion, route mapping
and the crashes the DEAs report (``droplet.exited``).

Never a secret: environment variable values never appear, only the names of the variables
that changed; credentials in a buildpack URL are masked. Never in a request's way: lines go
through :class:`~cf_platform.log_server.emitter.LogEmitter`, which only queues (or drops
and counts when the log server is slow or down). The message builders are pure; the
:class:`ApiLines` calls are made from HTTP threads and from the loop thread alike (the
emitter's queue is thread-safe).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..component import ComponentConfigError, parse_index
from ..log_server.emitter import EmitterSettings, LogEmitter
from .config import ConfigError
from .models import App, Crash

SOURCE = "API"
HIDDEN = "PRIVATE DATA HIDDEN"
#: the app fields an update line shows with their new value, in this order
SHOWN_FIELDS = ("name", "instances", "memory", "disk_quota", "state", "buildpack")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def ruby_hash(fields: Mapping[str, Any]) -> str:
    """``{"state"=>"STARTED", "instances"=>3}``: how the cf CLI's users saw these fields."""
    return "{" + ", ".join(f"{json.dumps(k)}=>{'nil' if v is None else json.dumps(v)}"
                           for k, v in fields.items()) + "}"


def masked_url(value: str | None) -> str | None:
    """A buildpack URL without its ``user:password@``."""
    return _URL_CREDENTIALS.sub("***@", value) if value else value


def changed_env_names(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Names of the variables added, removed or given another value (never the values)."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def changed_fields(old: App, new: App) -> dict[str, Any]:
    """What an update changed, as shown to the app's readers: new values of plain fields;
    for the environment only the changed variable names."""
    fields: dict[str, Any] = {}
    for key in SHOWN_FIELDS:
        value = getattr(new, key)
        if value != getattr(old, key):
            fields[key] = masked_url(value) if key == "buildpack" else value
    names = changed_env_names(old.environment or {}, new.environment or {})
    if names:
        fields["environment_json"] = f"{HIDDEN} (changed: {', '.join(names)})"
    return fields


def created_message(app: App) -> str:
    return f"Created app with guid {app.guid}"


def updated_message(app_guid: str, fields: Mapping[str, Any]) -> str:
    return f"Updated app with guid {app_guid} ({ruby_hash(fields)})"


def deleted_message(app: App) -> str:
    return f"Deleted app with guid {app.guid}"


def route_message(app_guid: str, uri: str, mapped: bool) -> str:
    return f"{'Mapped' if mapped else 'Unmapped'} route {uri} {'to' if mapped else 'from'} app with guid {app_guid}"


def crash_message(crash: Crash) -> str:
    payload = {"instance": crash.instance, "index": crash.index, "reason": "CRASHED",
               "exit_status": crash.exit_status, "exit_description": crash.exit_description,
               "crash_timestamp": int(crash.since)}
    return f"App instance exited with guid {crash.app_guid} payload: {ruby_hash(payload)}"


class ApiLines:
    """Sends this CC's API lines; without a log server configured, does nothing."""

    def __init__(self, emitter: LogEmitter | None = None, index: int = 0) -> None:
        self.emitter = emitter
        self.index = index

    @classmethod
    def from_config(cls, extra: Mapping[str, Any]) -> ApiLines:
        """From the config's ``log_server: {url, user, password}`` and ``index`` (the job's spec.index)."""
        try:
            settings = EmitterSettings.parse(extra.get("log_server"), "log_server")
            index = parse_index(extra.get("index"))
        except (ValueError, ComponentConfigError) as e:
            raise ConfigError(f"config: {e}") from None
        return cls(LogEmitter(settings) if settings is not None else None, index)

    def created(self, app: App) -> None:
        self._emit(app.guid, created_message(app))

    def updated(self, old: App, new: App) -> None:
        fields = changed_fields(old, new)
        if fields:
            self._emit(new.guid, updated_message(new.guid, fields))

    def deleted(self, app: App) -> None:
        self._emit(app.guid, deleted_message(app))

    def route_mapped(self, app_guid: str, uri: str) -> None:
        self._emit(app_guid, route_message(app_guid, uri, mapped=True))

    def route_unmapped(self, app_guid: str, uri: str) -> None:
        self._emit(app_guid, route_message(app_guid, uri, mapped=False))

    def crashed(self, crash: Crash) -> None:
        self._emit(crash.app_guid, crash_message(crash))

    def counters(self) -> dict[str, int]:
        return self.emitter.counters() if self.emitter is not None else {}

    def close(self) -> None:
        if self.emitter is not None:
            self.emitter.close()

    def _emit(self, app_guid: str, message: str) -> None:
        if self.emitter is not None:   # OUT, as the classic CC's lines were
            self.emitter.emit(app_guid, SOURCE, self.index, message)
