"""gorouter's status port: ``/health`` open; ``/healthz``, ``/varz``, ``/routes`` and
``/metrics`` behind basic auth (``router.status.user``/``password``).

Why a separate port served by the control plane: load balancers probe ``/health`` without
credentials, while the routes table (which apps run where) and the counters are for
operators only; and only the control plane knows the table. The HTTP server itself is the
one every component shares (cf_platform.component.StatusServer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cf_platform.component import (
    Component,
    Page,
    StatusServer,
    component_pages,
    health_page,
    json_page,
)
from cf_platform.router.prometheus_text import CONTENT_TYPE


def router_status_server(component: Component, unhealthy: Callable[[], str | None],
                         routes: Callable[[], Any], varz: Callable[[], dict[str, Any]],
                         metrics: Callable[[], str]) -> StatusServer:
    """The router's pages; the callbacks hold the state (the server holds none)."""
    pages = component_pages(component, varz, unhealthy)
    pages["/health"] = health_page(unhealthy, protected=False)
    pages["/routes"] = json_page(routes)
    pages["/metrics"] = Page(lambda: (200, CONTENT_TYPE, metrics().encode()))
    return StatusServer(component.status, pages, realm="cf-router")
