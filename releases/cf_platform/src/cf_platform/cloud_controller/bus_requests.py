"""What the health manager and the DEAs ask of the cloud controller over NATS, read into
plain values. Pure logic (messages.py has already checked each message's shape)."""

from __future__ import annotations

import time

from .models import App, Crash


def indices_to_start(message: dict, app: App) -> list[int]:
    """health.start: the indices of the app's current version it may start (none when the
    message names another version: the app changed since the HM looked)."""
    version = message.get("version")
    if version is not None and version != app.version:
        return []
    return sorted({i for i in message.get("indices") or [] if isinstance(i, int) and 0 <= i < app.instances})


def instances_to_stop(message: dict) -> list[str]:
    """health.stop: instance ids to stop."""
    return [i for i in message.get("instances") or [] if isinstance(i, str)]


def crash_of(message: dict) -> Crash | None:
    """droplet.exited with reason CRASHED, as a record (others are not kept)."""
    if message.get("reason") != "CRASHED" or not isinstance(message.get("droplet"), str):
        return None
    index = message.get("index")
    status = message.get("exit_status")
    return Crash(app_guid=message["droplet"], version=str(message.get("version") or ""),
                 instance=str(message.get("instance") or ""), index=index if isinstance(index, int) else -1,
                 exit_status=status if isinstance(status, int) else None,
                 exit_description=str(message.get("exit_description") or ""),
                 since=float(message.get("crash_timestamp") or time.time()))
