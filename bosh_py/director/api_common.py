"""Pieces of the director API shared by its route modules (api.py and api_<area>.py)."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from bosh_py.director.models import Task


def task_json(task: Task) -> dict:
    return {"id": task.id, "state": task.state, "description": task.description,
            "deployment": task.deployment_name, "result": task.result,
            "started_at": int(task.started_at.timestamp()) if task.started_at else None,
            "ended_at": int(task.ended_at.timestamp()) if task.ended_at else None}


INSTANCE_ACTIONS = ("start", "stop", "restart", "recreate")


def api_user(request: web.Request) -> str:
    """The operator's user name (basic auth or a UAA token, set by the auth middleware), for events."""
    if "api_user" in request:
        return str(request["api_user"])
    try:
        return base64.b64decode(request.headers.get("Authorization", "")[6:]).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return "unknown"
