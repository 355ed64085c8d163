"""The router's ``/metrics`` page in Prometheus text format (pure: numbers in, text out).

Names follow Prometheus' conventions (``_total`` counters, ``_seconds`` units) under the
``cf_router_`` prefix. Request counts and latency exist only while nginx sends its metric
lines (``nginx.request_metrics``, the default).
"""

from __future__ import annotations

from cf_platform.router.prometheus_text import MetricsText
from cf_platform.router.registry import RouteRegistry
from cf_platform.router.request_metrics import LATENCY_BOUNDS, RequestMetrics


def render_metrics(registry: RouteRegistry, reloads: int, config_failures: int,
                   requests: RequestMetrics | None) -> str:
    out = MetricsText()
    routes = registry.routes()
    out.family("cf_router_routes", "gauge", "Routes (host and path) in the routing table.")
    out.sample("cf_router_routes", len(routes))
    out.family("cf_router_endpoints", "gauge", "Backend endpoints over all routes.")
    out.sample("cf_router_endpoints", sum(len(e) for e in routes.values()))
    out.family("cf_router_nginx_reloads_total", "counter", "Configuration reloads sent to nginx.")
    out.sample("cf_router_nginx_reloads_total", reloads)
    out.family("cf_router_nginx_config_failures_total", "counter",
               "Route table renderings nginx refused (nginx -t failed).")
    out.sample("cf_router_nginx_config_failures_total", config_failures)
    if requests is None:
        return out.text()
    out.family("cf_router_requests_total", "counter",
               "Requests served, by app (guid; empty: no single app, such as an unknown route) "
               "and status class.")
    for (app, klass), count in sorted(requests.requests.items()):
        out.sample("cf_router_requests_total", count, {"app": app, "status": klass})
    out.family("cf_router_upstream_latency_seconds", "histogram",
               "Time spent waiting for backends (nginx's $upstream_response_time, summed over retries).")
    out.histogram("cf_router_upstream_latency_seconds", LATENCY_BOUNDS, requests.latency_counts,
                  requests.latency_sum)
    out.family("cf_router_metric_lines_malformed_total", "counter",
               "Metric lines from nginx that could not be read.")
    out.sample("cf_router_metric_lines_malformed_total", requests.malformed)
    return out.text()
