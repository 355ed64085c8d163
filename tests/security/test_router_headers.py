"""Headers a client must not be able to forge through the router (gorouter's behaviour):
``X-Vcap-Request-Id`` is always a fresh UUID (handlers/request_id.go replaces the client's),
``X-Forwarded-Proto`` is the scheme of the client's own connection (gorouter with
``sanitize_forwarded_proto``: this router is the edge, so a plain-HTTP client cannot claim
https), and a client's ``X-CF-ApplicationID`` / ``X-CF-InstanceID`` never reach an app as if
the router had set them. Real HTTP requests through the real router and nginx."""

from __future__ import annotations

import json
import re

from tests.cf.router.conftest import backends, nats_client, nats_server, nginx_binary, router  # noqa: F401
from tests.cf.router.helpers import start_router
from tests.cf.router.test_router_integration import backend_of, get, register, wait_route

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FORGED = {"X-Vcap-Request-Id": "forged-request-id", "X-Forwarded-Proto": "https",
          "X-CF-ApplicationID": "someone-elses-app", "X-CF-InstanceID": "someone-elses-instance"}


def seen_by_backend(router, host: str, headers: dict) -> dict:  # noqa: F811
    status, _, body = get(router, host, headers=headers)
    assert status == 200, body
    return {k.lower(): v for k, v in json.loads(body)["headers"].items()}


def test_forged_request_id_and_scheme_are_replaced(router, backends, nats_client):  # noqa: F811
    register(nats_client, backends[0], ["forged.example.com"], app="the-app")
    wait_route(router, lambda: backend_of(router, "forged.example.com") == backends[0].name, message="route")
    seen = seen_by_backend(router, "forged.example.com", FORGED)
    assert UUID_RE.fullmatch(seen["x-vcap-request-id"]), seen["x-vcap-request-id"]
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-cf-applicationid"] == "the-app"
    assert seen["x-cf-instanceid"] == f"iid-{backends[0].name}"
    again = seen_by_backend(router, "forged.example.com", FORGED)
    assert again["x-vcap-request-id"] != seen["x-vcap-request-id"]


def test_forged_cf_headers_are_removed_where_the_router_cannot_set_them(router, backends, nats_client):  # noqa: F811
    # two apps' instances on one route: neither id can be set before nginx picks a backend
    register(nats_client, backends[1], ["shared.example.com"], app="app-one")
    register(nats_client, backends[2], ["shared.example.com"], app="app-two")
    wait_route(router, lambda: len({backend_of(router, "shared.example.com") for _ in range(6)}) == 2,
               message="both endpoints")
    for _ in range(4):
        seen = seen_by_backend(router, "shared.example.com", FORGED)
        assert "x-cf-applicationid" not in seen and "x-cf-instanceid" not in seen, seen
        assert seen["x-forwarded-proto"] == "http"


def test_a_router_behind_a_trusted_proxy_keeps_its_scheme(nats_server, nginx_binary, backends, nats_client):  # noqa: F811
    router = start_router(nats_server, nginx_binary, id="behind-a-proxy", sanitize_forwarded_proto=False)
    try:
        register(nats_client, backends[0], ["proxied.example.com"])
        wait_route(router, lambda: backend_of(router, "proxied.example.com") == backends[0].name, message="route")
        assert seen_by_backend(router, "proxied.example.com", FORGED)["x-forwarded-proto"] == "https"
        assert seen_by_backend(router, "proxied.example.com", {})["x-forwarded-proto"] == "http"
    finally:
        router.stop()
