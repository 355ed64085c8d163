"""Cloud-check alerts for a person, not only the events table: as BOSH's director does, they
go to the health monitor over NATS on ``hm.director.alert``, whose plugins (the webhook,
bosh_py/monitor/webhook.py) pass them on (bosh_py/monitor/director_alerts.py receives them).

Only the director may publish on that subject: agents may publish only their own
heartbeat, alert and reply subjects, the monitor's own user nothing (mbus/server.py). An
alert names problem types, instances, VM and disk cids and resolutions: never a property,
credential or settings value. Sending never fails a cloud check: an alert that cannot be
published is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from bosh_py.director.cck.problems import Problem

log = logging.getLogger(__name__)

SUBJECT = "hm.director.alert"
# BOSH's severities: 1 alert, 2 critical, 3 error, 4 warning
SEVERITY_PROBLEMS = 3
SEVERITY_RESOLVED = 4
SEVERITY_FAILED = 2
MAX_LISTED = 20  # a summary names at most this many problems, then "and N more"


def _label(problem: Problem) -> str:
    return f"{problem.type} {problem.instance or '-'} ({problem.resource or '-'})"


def director_alert(source: str, deployment: str, action: str, summary: str, severity: int) -> dict[str, Any]:
    """The shape BOSH's director publishes (id, severity, source, title, summary, created_at),
    with the deployment and a short action name the monitor's plugins key on."""
    return {"id": uuid.uuid4().hex, "severity": severity, "source": source, "deployment": deployment,
            "action": action, "title": f"{action}: {deployment}", "summary": summary,
            "created_at": int(time.time())}


def problems_alert(source: str, deployment: str, problems: list[Problem]) -> dict[str, Any] | None:
    """One alert for a scan that found problems (None when it found none)."""
    if not problems:
        return None
    listed = "; ".join(_label(p) for p in problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return director_alert(source, deployment, "cck problems",
                          f"{len(problems)} problem(s) found: {listed}{more}", SEVERITY_PROBLEMS)


def resolution_alert(source: str, deployment: str, problem: Problem, resolution: str, task_id: int,
                     error: str | None = None) -> dict[str, Any]:
    """One alert per resolution applied (or failed), naming the task that did it."""
    if error is None:
        return director_alert(source, deployment, "cck resolution",
                              f"task {task_id}: {_label(problem)} resolved with {resolution}", SEVERITY_RESOLVED)
    return director_alert(source, deployment, "cck resolution failed",
                          f"task {task_id}: {_label(problem)}: {resolution} failed: {error}", SEVERITY_FAILED)


async def publish(nats: Any, alert: dict[str, Any] | None) -> None:
    """Hand the alert to the monitor; a bus problem is logged, never raised."""
    if alert is None or nats is None:
        return
    try:
        await nats.publish(SUBJECT, json.dumps(alert, sort_keys=True).encode())
    except Exception as error:  # noqa: BLE001 - an alert must never fail the cloud check
        log.warning("alert %s not sent on %s: %s", alert["id"], SUBJECT, type(error).__name__)
