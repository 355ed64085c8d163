"""Processes the CPI started, remembered as (pid, start time) so a recycled PID is never hit.

The CPI only ever signals a PID it recorded, and only if that PID still belongs to the
process it recorded (same start time in /proc/<pid>/stat, not a zombie).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> "ProcessRef | None":
        stat = _stat(pid)
        return None if stat is None else cls(pid, int(stat[19]))

    def write(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(f"{self.pid} {self.start}\n")

    @classmethod
    def read(cls, path: Path) -> "ProcessRef | None":
        try:
            pid, start = path.read_text().split()
            return cls(int(pid), int(start))
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        stat = _stat(self.pid)
        return stat is not None and int(stat[19]) == self.start and stat[0] not in ("Z", "X")

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.alive():
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill_group(self, signum: int = signal.SIGKILL) -> None:
        """Signal the process group this process leads (only if it still leads it)."""
        try:
            if self.alive() and os.getpgid(self.pid) == self.pid:
                os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    def wait_group_gone(self, timeout: float) -> bool:
        """Wait until no process is left in the group this process led (after ``kill_group``:
        a child killed in the middle of a system call, such as ``ip netns attach`` mounting
        the VM's netns name, finishes that call before it dies)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.killpg(self.pid, 0)  # signal 0: only asks whether the group has members
            except (ProcessLookupError, PermissionError):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 = state is index 0)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()
