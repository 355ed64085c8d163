"""VM and process vitals from /proc, in the shape of BOSH's get_state/heartbeat ``vitals``.

CPU percentages are over the interval since the previous sample (heartbeats keep it
short), so one sampler object lives as long as the agent. Values are numbers, not
BOSH's strings."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bosh_py.agent.mounts import is_mounted
from bosh_py.agent.paths import Paths
from bosh_py.agent.procfs import CLK_TCK, all_stats, system_uptime
from bosh_py.agent.supervisor import ProcessStatus


def _read_cpu() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[key] = int(parts[0])
    return out


def _disk(path: Path) -> dict[str, Any] | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    used = st.f_blocks - st.f_bfree
    usable = used + st.f_bavail
    iused = st.f_files - st.f_ffree
    return {"percent": round(100.0 * used / usable, 1) if usable else 0.0,
            "inode_percent": round(100.0 * iused / st.f_files, 1) if st.f_files else 0.0}


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


@dataclass
class VitalsSampler:
    paths: Paths
    _cpu: list[int] = field(default_factory=list)
    _cpu_pct: dict[str, float] = field(default_factory=lambda: {"user": 0.0, "sys": 0.0, "wait": 0.0})
    _cpu_at: float = 0.0
    _proc: dict[int, tuple[int, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cpu = _read_cpu()
        self._cpu_at = time.monotonic()

    def cpu(self) -> dict[str, float]:
        now = time.monotonic()
        if now - self._cpu_at >= 0.5:  # shorter intervals are noise; keep the last value
            cur = _read_cpu()
            d = [c - p for c, p in zip(cur, self._cpu)]
            total = sum(d[:8]) or 1
            self._cpu_pct = {"user": _pct(d[0] + d[1], total), "sys": _pct(d[2] + d[5] + d[6], total),
                             "wait": _pct(d[4], total)}
            self._cpu, self._cpu_at = cur, now
        return dict(self._cpu_pct)

    def system(self) -> dict[str, Any]:
        mem = _meminfo()
        total = mem.get("MemTotal", 0)
        used = total - mem.get("MemAvailable", mem.get("MemFree", 0))
        swap_total = mem.get("SwapTotal", 0)
        swap_used = swap_total - mem.get("SwapFree", 0)
        try:
            load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
        except OSError:
            load = [0.0, 0.0, 0.0]
        disk: dict[str, Any] = {"system": _disk(self.paths.root) or {"percent": 0.0}}
        if self.paths.data.exists():
            disk["ephemeral"] = _disk(self.paths.data)
        if self.paths.store.exists() and is_mounted(self.paths.store):
            disk["persistent"] = _disk(self.paths.store)
        return {
            "cpu": self.cpu(),
            "mem": {"kb": used, "percent": _pct(used, total)},
            "swap": {"kb": swap_used, "percent": _pct(swap_used, swap_total)},
            "load": load,
            "disk": disk,
            "uptime": {"secs": int(system_uptime())},
        }

    def processes(self, statuses: list[ProcessStatus]) -> list[dict[str, Any]]:
        """Per supervised process, summing its whole session (wrapper scripts' children);
        a classic monit process that leads no session (a ctl script backgrounded it)
        counts alone."""
        by_session: dict[int, tuple[int, int]] = {}
        pids = {s.pid for s in statuses if s.pid}
        if pids:
            leaders: set[int] = set()
            own: dict[int, tuple[int, int]] = {}
            for st in all_stats():
                if st.pid in pids:
                    own[st.pid] = (st.cpu_ticks, st.rss_kb)
                    if st.session == st.pid:
                        leaders.add(st.pid)
                if st.session in pids:
                    ticks, rss = by_session.get(st.session, (0, 0))
                    by_session[st.session] = (ticks + st.cpu_ticks, rss + st.rss_kb)
            for pid, usage in own.items():
                if pid not in leaders:
                    by_session[pid] = usage
        mem_total = _meminfo().get("MemTotal", 0)
        now = time.monotonic()
        seen: dict[int, tuple[int, float]] = {}
        out = []
        for s in statuses:
            ticks, rss = by_session.get(s.pid or -1, (0, 0))
            cpu = 0.0
            if s.pid and s.pid in self._proc:
                prev_ticks, prev_at = self._proc[s.pid]
                if now > prev_at:
                    cpu = _pct((ticks - prev_ticks) / CLK_TCK, now - prev_at)
            if s.pid:
                seen[s.pid] = (ticks, now)
            out.append({"name": s.name, "job": s.job, "state": s.state,
                        "uptime": {"secs": int(s.uptime)}, "cpu": {"total": max(cpu, 0.0)},
                        "mem": {"kb": rss, "percent": _pct(rss, mem_total)}})
        self._proc = seen
        return out
