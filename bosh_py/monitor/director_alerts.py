"""Alerts the director publishes on ``hm.director.alert`` (cloud check, bosh_py/director/cck/
alerts.py), passed on to the monitor's plugins (the webhook), as BOSH's health monitor does.

Who may publish there is decided by the director's nats-server: agents may publish only
their own subjects and the monitor's ``hm`` user nothing (mbus/server.py), so only the
director's own connection can. What arrives is still checked and rebuilt field by field
(lengths bounded, unknown fields dropped), so a malformed message is logged and dropped
and never reaches a person half-formed. Runs on the director's event loop.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SUBJECT = "hm.director.alert"
MAX_TEXT = 2000
MAX_NAME = 255


class InvalidAlert(ValueError):
    pass


def _text(payload: dict[str, Any], key: str, limit: int, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidAlert(f"{key}: expected a non-empty string")
    return value[:limit]


def parse_alert(data: bytes) -> dict[str, Any]:
    """The alert in the webhook's shape (monitor/webhook.py ``alert``), or InvalidAlert."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise InvalidAlert("not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidAlert("expected a JSON object")
    severity = payload.get("severity")
    if not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= 4:
        raise InvalidAlert("severity: expected 1 to 4")
    created_at = payload.get("created_at")
    if not isinstance(created_at, int) or isinstance(created_at, bool):
        raise InvalidAlert("created_at: expected a Unix time")
    alert_id = payload.get("id")
    return {
        "id": alert_id[:64] if isinstance(alert_id, str) and alert_id else uuid.uuid4().hex,
        "severity": severity,
        "source": _text(payload, "source", MAX_NAME),
        "deployment": _text(payload, "deployment", MAX_NAME, required=False),
        "action": _text(payload, "action", MAX_NAME),
        "title": _text(payload, "title", MAX_TEXT),
        "summary": _text(payload, "summary", MAX_TEXT),
        "created_at": created_at,
    }


async def subscribe(nats: Any, notify: Callable[[dict[str, Any]], None]) -> Any:
    """Subscribe on the director's connection; each valid alert goes to ``notify``."""

    async def on_alert(msg: Any) -> None:
        try:
            alert = parse_alert(msg.data)
        except InvalidAlert as error:
            log.warning("dropped a message on %s: %s", SUBJECT, error)
            return
        log.info("director alert %s: %s", alert["action"], alert["title"])
        notify(alert)

    return await nats.subscribe(SUBJECT, cb=on_alert)
