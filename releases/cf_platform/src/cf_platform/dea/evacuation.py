"""How the job's drain script and the DEA process talk about an evacuation: two small files
in the DEA's base_dir and one signal, and the drain script's answer as a pure function.

- ``dea.pid``: the running DEA's pid and its start time (written at start, removed on exit);
  a pid whose process started at another time is a reused pid, never signalled (SIGUSR2's
  default action would end whatever process holds it now)
- SIGUSR2 to that pid: "evacuate" (dea_ng's drain sent the same signal).
- ``evacuation.json``: ``{"pid", "state": "evacuating"|"done", "since"}``, written by the DEA;
  a file naming another pid is a previous process's and means nothing.
- ``drain.json``: ``{"pid", "requested_at"}``, written by the drain script when it signals, so
  that a DEA that never answers cannot hold the drain longer than the evacuation timeout.

Files rather than a socket: the drain script is run again and again by the agent (BOSH's
dynamic drain), and each run needs only to read where things stand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVACUATING = "evacuating"
DONE = "done"
POLL_SECONDS = 1            # the drain script asks to be called again this soon
NO_ANSWER_MARGIN = 30.0     # beyond the evacuation timeout, a silent DEA is given up on


@dataclass(frozen=True)
class EvacuationFiles:
    base_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "dea.pid"

    @property
    def status_file(self) -> Path:
        return self.base_dir / "evacuation.json"

    @property
    def request_file(self) -> Path:
        return self.base_dir / "drain.json"

    def write_pid(self, pid: int) -> None:
        _write_json(self.pid_file.with_suffix(".tmp"), self.pid_file, {"pid": pid, "start_time": start_time(pid)})

    def read_pid(self) -> int | None:
        """The DEA's pid while that very process runs; None when it is gone (or the pid reused)."""
        data = _read_json(self.pid_file)
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or data["pid"] <= 0:
            return None
        pid = data["pid"]
        started = start_time(pid)
        return pid if started is not None and started == data.get("start_time") else None

    def write_status(self, pid: int, state: str, since: float) -> None:
        _write_json(self.status_file.with_suffix(".tmp"), self.status_file,
                    {"pid": pid, "state": state, "since": since})

    def read_status(self, pid: int) -> str | None:
        """The evacuation state that process ``pid`` reported, or None."""
        data = _read_json(self.status_file)
        if isinstance(data, dict) and data.get("pid") == pid and data.get("state") in (EVACUATING, DONE):
            return str(data["state"])
        return None

    def write_request(self, pid: int, now: float) -> None:
        _write_json(self.request_file.with_suffix(".tmp"), self.request_file, {"pid": pid, "requested_at": now})

    def read_request(self, pid: int) -> float | None:
        data = _read_json(self.request_file)
        if isinstance(data, dict) and data.get("pid") == pid and isinstance(data.get("requested_at"), (int, float)):
            return float(data["requested_at"])
        return None

    def clear(self) -> None:
        """A new DEA process starts with no evacuation and no drain request."""
        for path in (self.pid_file, self.status_file, self.request_file):
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class DrainStep:
    """What the drain script does this time: signal the DEA or not, and what to print."""
    signal: bool
    answer: int
    why: str


def drain_step(dea_running: bool, status: str | None, requested_at: float | None, now: float,
               evacuation_timeout: float) -> DrainStep:
    """BOSH's dynamic drain: a negative answer means "call me again in |n| seconds", 0 "drained"."""
    if not dea_running:
        return DrainStep(False, 0, "the DEA is not running: nothing to evacuate")
    if status == DONE:
        return DrainStep(False, 0, "evacuation done")
    if requested_at is None:
        return DrainStep(True, -POLL_SECONDS, "asked the DEA to evacuate")
    if now - requested_at > evacuation_timeout + NO_ANSWER_MARGIN:
        return DrainStep(False, 0, f"the DEA did not finish evacuating within {evacuation_timeout:g} s "
                                   f"(+{NO_ANSWER_MARGIN:g} s); giving up the wait")
    return DrainStep(False, -POLL_SECONDS, "evacuating" if status == EVACUATING else "waiting for the DEA")


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:   # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json(tmp: Path, path: Path, value: Any) -> None:
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
