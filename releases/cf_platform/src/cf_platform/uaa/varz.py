"""The UAA's own /varz figures (CF v1's component page; cf_platform/component.py adds the
common keys): token grants issued and refused by grant type, users and clients.

Counted on the HTTP server's threads, read on the status port's loop thread: one lock. The
grant type is what the client sent, so anything but the three known ones is counted as
``other``: a client cannot grow the page with invented names.
"""

from __future__ import annotations

import threading
from typing import Any

from .config import GRANT_TYPES

OTHER = "other"


class GrantCounts:
    """Token requests by outcome and grant type."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {outcome: dict.fromkeys((*GRANT_TYPES, OTHER), 0) for outcome in ("issued", "failed")}

    def record(self, grant_type: str, issued: bool) -> None:
        key = grant_type if grant_type in GRANT_TYPES else OTHER
        with self._lock:
            self._counts["issued" if issued else "failed"][key] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {outcome: dict(counts) for outcome, counts in self._counts.items()}


def uaa_counters(grants: GrantCounts, users: int, clients: int) -> dict[str, Any]:
    """The UAA's part of /varz."""
    return {"token_grants": grants.snapshot(), "users": users, "clients": clients}
