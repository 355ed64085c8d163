"""Small readers of /proc, shared by the supervisor (is this PID still our process?) and
vitals (cpu, memory). Linux only, by design: agents run on Linux stemcells."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    cpu_ticks: int  # utime + stime
    start_ticks: int
    rss_kb: int


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    fields = raw.rsplit(")", 1)[1].split()
    return ProcStat(pid=pid, state=fields[0], ppid=int(fields[1]), pgrp=int(fields[2]),
                    session=int(fields[3]), cpu_ticks=int(fields[11]) + int(fields[12]),
                    start_ticks=int(fields[19]), rss_kb=int(fields[21]) * PAGE_SIZE // 1024)


def pid_alive(pid: int) -> bool:
    st = read_stat(pid)
    return st is not None and st.state not in ("Z", "X")


def process_session(pid: int) -> int | None:
    st = read_stat(pid)
    return st.session if st else None


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def process_environ_value(pid: int, key: str) -> str | None:
    """One variable of a process's environment (root may read any process's)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = key.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def system_uptime() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def process_age(pid: int) -> float:
    """Seconds since ``pid`` started."""
    st = read_stat(pid)
    if st is None:
        return 0.0
    return max(0.0, system_uptime() - st.start_ticks / CLK_TCK)


def all_stats() -> list[ProcStat]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st is not None:
                out.append(st)
    return out
