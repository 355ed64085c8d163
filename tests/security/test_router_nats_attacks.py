"""Attacks on the router over NATS, performed the way a holder of NATS credentials would: real
``router.register`` publishes to the real router (control plane + Debian's nginx).

- A uri ending in a newline used to pass the host check (``$`` matches before ``\\n``), reach
  nginx.conf, fail ``nginx -t``, and freeze the data plane: no later route was applied.
- ``stale_threshold_in_seconds`` had no upper bound: a registration lived forever.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.cf.router.conftest import backends, nats_client, nats_server, nginx_binary  # noqa: F401
from tests.cf.router.helpers import start_router
from tests.cf.router.test_router_integration import backend_of, get, register, wait_route
from tests.harness import wait_until


@pytest.fixture
def router(nats_server, nginx_binary):  # noqa: F811 - fixtures imported above
    """A router of its own per test: an attack that breaks one must not leak into the next."""
    process = start_router(nats_server, nginx_binary, id=f"attacked-{time.monotonic_ns()}",
                           prune_threshold=2, prune_interval=0.3)
    yield process
    process.stop()


def test_a_newline_uri_is_refused_and_later_routes_still_apply(router, backends, nats_client):  # noqa: F811
    attacker, victim = backends[0], backends[1]
    register(nats_client, attacker, ["x.bosh-py.local\n/x"], app="attacker")
    register(nats_client, attacker, ["x.bosh-py.local\nserver_name evil.example.com"], app="attacker")
    # an app pushed afterwards must be routed
    register(nats_client, victim, ["after.bosh-py.local"], app="victim")
    wait_route(router, lambda: backend_of(router, "after.bosh-py.local") == victim.name,
               message="the route registered after the attack")
    routes = router.routes()
    assert not any("\n" in uri or uri.startswith("x.bosh-py.local") for uri in routes), routes
    varz = router.varz()
    assert varz["nginx"]["config_failures"] == 0
    assert varz["nats"]["rejected"] >= 2
    conf = (router.workdir / "run" / "nginx.conf").read_text()
    assert "x.bosh-py.local" not in conf and "evil.example.com" not in conf


def test_a_huge_stale_threshold_is_capped_to_the_routers(router, backends, nats_client):  # noqa: F811
    register(nats_client, backends[2], ["forever.bosh-py.local"], stale_threshold_in_seconds=10**9)
    wait_route(router, lambda: backend_of(router, "forever.bosh-py.local") == backends[2].name,
               message="the route")
    assert router.routes()["forever.bosh-py.local"][0]["stale_threshold_in_seconds"] == 2
    wait_until(lambda: "forever.bosh-py.local" not in router.routes(), timeout=8,
               message="the route to be pruned after the router's own 2 s threshold")
    wait_route(router, lambda: get(router, "forever.bosh-py.local")[0] == 404, message="nginx to drop it")


@pytest.mark.parametrize("payload", [
    b"not json", b"[]", b'"text"', b"null", b"{" * 5000 + b"}" * 5000,
    json.dumps({"host": "127.0.0.2", "port": "80; evil", "uris": ["a.bosh-py.local"]}).encode(),
    json.dumps({"host": "127.0.0.2\n", "port": 80, "uris": ["a.bosh-py.local"]}).encode(),
    json.dumps({"host": "127.0.0.2", "port": 80, "uris": "a.bosh-py.local\n/x"}).encode(),
    json.dumps({"host": "127.0.0.2", "port": 80, "uris": ["a.bosh-py.local"],
                "private_instance_id": "x\";\n  proxy_pass http://evil;"}).encode(),
], ids=["not-json", "list", "string", "null", "deep", "port", "host-newline", "uris-string",
        "instance-id-injection"])
def test_malformed_registrations_are_dropped_and_the_router_keeps_serving(
        router, backends, nats_client, payload):  # noqa: F811
    async def publish() -> None:
        await nats_client.client.publish("router.register", payload)
        await nats_client.client.flush()
    nats_client._run(publish())
    register(nats_client, backends[0], ["still.bosh-py.local"])
    wait_route(router, lambda: backend_of(router, "still.bosh-py.local") == backends[0].name,
               message="a valid route after the malformed one")
    assert "a.bosh-py.local" not in router.routes()
    assert router.varz()["nginx"]["config_failures"] == 0
    assert router.proc.poll() is None
