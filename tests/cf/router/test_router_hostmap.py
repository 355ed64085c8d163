"""Which route serves a host now that path-less hosts go through an nginx ``map`` and hosts
with path routes keep a ``server`` block: gorouter's precedence must hold across the two
(exact host before wildcard, the longest wildcard first), with the real router and nginx."""

from __future__ import annotations

from cf_platform.router.config import NginxSettings
from cf_platform.router.nginx_conf import Listen, render
from cf_platform.router.registry import Endpoint, RouteKey

from .test_router_integration import backend_of, get, register, wait_route


def test_exact_and_wildcard_hosts_across_map_and_servers(router, backends, nats_client):
    one, two, three = backends
    register(nats_client, one, ["*.mixed.example.com/api"])      # a wildcard with a path: a server
    register(nats_client, two, ["exact.mixed.example.com"])      # path-less: the map
    register(nats_client, one, ["*.pref.example.com"])
    register(nats_client, two, ["exact.pref.example.com"])
    register(nats_client, three, ["*.deep.pref.example.com"])
    wait_route(router, lambda: backend_of(router, "a.deep.pref.example.com") == three.name,
               message="the five routes in nginx")
    # nginx picks a server by name before reading any map: the wildcard's server must not
    # swallow the exact host that has no path
    assert backend_of(router, "exact.mixed.example.com") == two.name
    assert backend_of(router, "other.mixed.example.com", "/api/x") == one.name
    assert get(router, "other.mixed.example.com", "/")[1]["x-cf-routererror"] == "unknown_route"
    assert backend_of(router, "exact.pref.example.com") == two.name
    assert backend_of(router, "other.pref.example.com") == one.name
    assert backend_of(router, "EXACT.pref.example.com:80") == two.name


def test_ten_thousand_path_less_routes_render_as_map_lines():
    routes = {RouteKey(f"app-{n}.example.com"): [Endpoint("10.0.0.9", 61000 + n % 1000, app=f"guid-{n}")]
              for n in range(10_000)}
    text = render(routes, Listen("127.0.0.1", 80), NginxSettings(), run_as_root=False)
    assert text.count("    server_name ") == 1, "a path-less host must not get its own server block"
    assert text.count("upstream cf_route_") == 10_000
    assert "    app-42.example.com cf_route_" in text
    assert text.count(" zone cf_routes") == 10_000 and text.count("zone cf_routes ") == 1
