"""The files the router's control plane and its job's bin/drain share on the VM.

Why files and a signal rather than an HTTP endpoint: the status port listens on every
interface for the load balancer, and a drain must only be started from the VM itself;
a signal needs no port, no credentials, and only root (or the router's own user) may send
it, as gorouter's drain sends it USR1. The router writes its PID to ``pid_file`` and its
drain progress to ``state_file``: ``draining <unix time it started>`` then ``drained``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DRAINING = "draining"
DRAINED = "drained"
ROUTER_MODULE = b"cf_platform.router"


@dataclass(frozen=True)
class DrainState:
    """What ``state_file`` says: ``phase`` is DRAINING or DRAINED; ``since`` when the drain began."""

    phase: str
    since: float = 0.0


def write_atomically(path: str | Path, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)


def write_state(path: str | Path, state: DrainState) -> None:
    write_atomically(path, f"{state.phase} {state.since:.3f}\n")


def read_state(path: str | Path) -> DrainState | None:
    """None when there is no (readable, well-formed) state: no drain started since the
    router started (it removes the file at start)."""
    try:
        phase, since = Path(path).read_text().split()
        state = DrainState(phase, float(since))
    except (OSError, ValueError):
        return None
    return state if state.phase in (DRAINING, DRAINED) else None


def read_pid(path: str | Path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_router_process(pid: int) -> bool:
    """The PID is a live (not zombie) router control plane: a stale pid file, its PID
    reused by another program, must never get the router's signal."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()  # empty for a zombie
    except OSError:
        return False
    return ROUTER_MODULE in cmdline.split(b"\0")
