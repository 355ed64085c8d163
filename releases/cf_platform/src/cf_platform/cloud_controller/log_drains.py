"""``GET /internal/log_drains``: which apps drain their logs where, for the log server.

Answers ``{"drains": {"<app guid>": ["syslog://host:port", ...]}}`` from the
``syslog_drain_url`` of the apps' service bindings (the v2 broker API's bind response field).
Basic auth with the ``internal_api`` credentials, like every ``/internal`` endpoint. The
column is added by services/migration.py, which runs at every start before the API serves.
"""

from __future__ import annotations

from . import errors
from .auth import internal_allowed
from .config import CcConfig
from .db import Database
from .web import Request, Response, Router


def drains(db: Database) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in db._query("SELECT app_guid, syslog_drain_url FROM service_bindings "
                         "WHERE syslog_drain_url IS NOT NULL AND syslog_drain_url != '' ORDER BY created_at"):
        result.setdefault(row["app_guid"], []).append(row["syslog_drain_url"])
    return result


def register(router: Router, config: CcConfig, db: Database) -> None:
    def log_drains(request: Request) -> Response:
        if not internal_allowed(request.header("Authorization"), config.internal_user, config.internal_password):
            e = errors.not_authorized_internal()
            e.headers["WWW-Authenticate"] = 'Basic realm="cloud_controller internal"'
            raise e
        return Response.json({"drains": drains(db)})

    router.add("GET", "/internal/log_drains", log_drains)
