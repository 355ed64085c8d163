"""Heartbeats and alerts for the health monitor (REFERENCE.md sections 4 and 6)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.supervisor import ProcessExit

SEVERITY_ALERT = 1  # BOSH/monit: 1 alert, 2 critical, 3 error, 4 warning


def heartbeat_subject(agent_id: str) -> str:
    return f"hm.agent.heartbeat.{agent_id}"


def alert_subject(agent_id: str) -> str:
    return f"hm.agent.alert.{agent_id}"


def heartbeat_payload(ctx: ActionContext) -> dict[str, Any]:
    spec = ctx.load_spec()
    job = spec.get("job") or {}
    return {
        "deployment": spec.get("deployment"),
        "job": job.get("name") or spec.get("name"),
        "index": spec.get("index"),
        "job_state": ctx.supervisor.job_state(),
        "node_id": spec.get("id"),
        "number_of_processes": len(ctx.supervisor.statuses()),
        "vitals": ctx.vitals.system(),
    }


def exit_alert(event: ProcessExit, spec: dict[str, Any]) -> dict[str, Any]:
    where = f"{spec.get('name', '?')}/{spec.get('id', '?')}" if spec else "this VM"
    code = "a signal or unknown status" if event.returncode is None else (
        f"signal {-event.returncode}" if event.returncode < 0 else f"exit code {event.returncode}")
    return {
        "id": uuid.uuid4().hex,
        "severity": SEVERITY_ALERT,
        "title": f"{event.name} ({event.job}) process exited",
        "summary": (f"Process {event.name} of job {event.job} on {where} (pid {event.pid}) exited "
                    f"with {code}; restarting in {event.restart_in:g}s (crash {event.crashes})"),
        "created_at": int(time.time()),
    }
