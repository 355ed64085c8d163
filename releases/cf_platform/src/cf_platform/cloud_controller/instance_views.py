"""What /instances, /stats and the recent logs show, from the DEAs' answers to a find.
Pure logic: asking the DEAs is app_service.py's."""

from __future__ import annotations

from .db import now_iso
from .models import App

#: which of several answers for one index /instances and /stats show: the most alive one
#: (an EVACUATING instance still serves, on a DEA that is draining, until its replacement runs)
STATE_RANK = {"RUNNING": 0, "EVACUATING": 1, "STARTING": 2, "BORN": 3, "CRASHED": 4, "STOPPING": 5,
              "STOPPED": 6}


def best_by_index(replies: list[dict]) -> dict[int, dict]:
    """One answer per index: the most alive one (RUNNING over STARTING over CRASHED ...),
    the newest among equals."""
    def rank(reply: dict) -> tuple[int, float]:
        return STATE_RANK.get(str(reply.get("state")), 9), -(reply.get("state_timestamp") or 0)

    best: dict[int, dict] = {}
    for reply in replies:
        index = reply.get("index")
        if isinstance(index, int) and (index not in best or rank(reply) < rank(best[index])):
            best[index] = reply
    return best


def instances_view(app: App, replies: list[dict], now: float) -> dict[str, dict]:
    best = best_by_index(replies)
    result: dict[str, dict] = {}
    for index in range(app.instances):
        r = best.get(index)
        if r is None:
            result[str(index)] = {"state": "DOWN", "since": now}
            continue
        stats = r.get("stats") or {}
        result[str(index)] = {"state": r.get("state"), "since": r.get("state_timestamp"),
                              "host": r.get("host"), "port": r.get("port"), "uptime": stats.get("uptime"),
                              "instance": r.get("instance"), "dea": r.get("dea")}
    return result


def stats_view(app: App, replies: list[dict], uris: list[str], default_fds: int) -> dict[str, dict]:
    best = best_by_index(replies)
    result: dict[str, dict] = {}
    for index in range(app.instances):
        r = best.get(index)
        if r is None:
            result[str(index)] = {"state": "DOWN", "stats": {}}
            continue
        s = r.get("stats") or {}
        usage = s.get("usage") or {}
        result[str(index)] = {"state": r.get("state"), "stats": {
            "name": app.name, "uris": uris, "host": r.get("host"), "port": r.get("port"),
            "uptime": s.get("uptime"), "mem_quota": s.get("mem_quota") or app.memory * 1024 * 1024,
            "disk_quota": app.disk_quota * 1024 * 1024, "fds_quota": default_fds,
            "usage": {"time": now_iso(), "cpu": usage.get("cpu"), "mem": usage.get("mem"),
                      "disk": usage.get("disk")}}}
    return result


def logs_view(replies: list[dict]) -> list[dict]:
    out = []
    for r in sorted(replies, key=lambda r: (r.get("index", 0), r.get("state_timestamp") or 0)):
        logs = r.get("logs")
        if isinstance(logs, dict):
            stdout, stderr = logs.get("stdout", ""), logs.get("stderr", "")
        else:
            stdout, stderr = r.get("stdout", logs if isinstance(logs, str) else ""), r.get("stderr", "")
        out.append({"index": r.get("index"), "instance": r.get("instance"), "state": r.get("state"),
                    "version": r.get("version"), "stdout": stdout or "", "stderr": stderr or ""})
    return out
