"""Failure injection for tests: ``<state_dir>/failures.json`` maps a method to the error
it must answer with, e.g.

    {"create_vm": {"type": "VMCreationFailed", "message": "no capacity", "times": 1}}

``type`` is any wire type of cpi/protocol.py (default CloudError); ``times`` counts down and
the entry is removed at 0 (absent: fail every call). ``ok_to_retry`` may be given."""

from __future__ import annotations

import fcntl
import json
from typing import Any

from cpi import protocol
from cpi.dummy.config import DummyConfig

TYPES: dict[str, type[protocol.CpiFailure]] = {
    cls.error_type: cls for cls in (protocol.CloudError, protocol.NotImplementedFailure, protocol.VMNotFound,
                                    protocol.VMCreationFailed, protocol.DiskNotFound,
                                    protocol.DiskNotAttached, protocol.InvalidCall)}


def _take(config: DummyConfig, method: str) -> dict[str, Any] | None:
    path = config.failures_file
    if not path.exists():
        return None
    with open(config.lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            failures = json.loads(path.read_text() or "{}")
        except (OSError, ValueError) as error:
            raise protocol.InvalidCall(f"{path}: not valid JSON ({error})") from error
        entry = failures.get(method)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            entry = {"type": str(entry)}
        times = entry.get("times")
        if isinstance(times, int):
            if times <= 1:
                del failures[method]
            else:
                failures[method] = {**entry, "times": times - 1}
            path.write_text(json.dumps(failures))
        return entry


def raise_injected(config: DummyConfig, method: str) -> None:
    """Raise the failure injected for ``method``, if any."""
    entry = _take(config, method)
    if entry is None:
        return
    error_type = str(entry.get("type") or "CloudError")
    cls = TYPES.get(error_type)
    if cls is None:
        raise protocol.InvalidCall(f"{config.failures_file}: {method}: unknown error type {error_type!r} "
                                   f"(known: {', '.join(sorted(TYPES))})")
    raise cls(str(entry.get("message") or f"injected failure of {method}"), bool(entry.get("ok_to_retry")))
