"""Which machine holds which VM and disk: one JSON file in the CPI's state directory, read
and written only under an exclusive lock, so concurrent CPI calls (the director runs many at
once) never adopt the same machine twice or lose each other's records."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class VmRecord:
    machine: str
    agent_id: str
    authorized_keys: list[str]
    state: str = "adopting"  # adopting while create_vm prepares it, then "adopted"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class DiskRecord:
    machine: str
    size_mb: int
    vm: str | None = None  # the VM it is attached to


@dataclass
class State:
    vms: dict[str, VmRecord] = field(default_factory=dict)
    disks: dict[str, DiskRecord] = field(default_factory=dict)
    stemcells: dict[str, dict[str, Any]] = field(default_factory=dict)

    def vm_on(self, machine: str) -> str | None:
        return next((cid for cid, vm in self.vms.items() if vm.machine == machine), None)


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def _load(path: Path) -> State:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return State()
    return State(vms={k: VmRecord(**v) for k, v in doc.get("vms", {}).items()},
                 disks={k: DiskRecord(**v) for k, v in doc.get("disks", {}).items()},
                 stemcells=dict(doc.get("stemcells", {})))


def _save(path: Path, state: State) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(state), out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


@contextmanager
def locked_state(state_dir: Path) -> Iterator[State]:
    """The state, locked; whatever the block changed is saved when it ends without error."""
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    with open(os.open(state_dir / ".lock", os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _load(state_dir / "state.json")
        yield state
        _save(state_dir / "state.json", state)


def read_state(state_dir: Path) -> State:
    with locked_state(state_dir) as state:
        return state
