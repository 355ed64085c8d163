"""The dummy CPI's state: one JSON file under the state dir, read and written under an
exclusive file lock, since every CPI call is its own process and calls run in parallel."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cpi.dummy.config import DummyConfig

EMPTY: dict[str, dict[str, Any]] = {"stemcells": {}, "vms": {}, "disks": {}}


def read_state(config: DummyConfig) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(config.state_file.read_text())
    except FileNotFoundError:
        data = {}
    return {key: dict(data.get(key) or {}) for key in EMPTY}


def write_state(config: DummyConfig, state: dict[str, dict[str, Any]]) -> None:
    tmp = config.state_file.with_name(f".state.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, config.state_file)


@contextmanager
def locked_state(config: DummyConfig) -> Iterator[dict[str, dict[str, Any]]]:
    """The state, saved on a clean exit; the lock is held for the whole block."""
    with open(config.lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read_state(config)
        yield state
        write_state(config, state)


def new_cid(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"
