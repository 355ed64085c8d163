"""Fuzz the real router over a real nats-server: hypothesis-generated malformed payloads on
every subject it reads (router.register, router.unregister, router.greet), then a valid
registration must still be routed by nginx, and nginx must never have been handed a
configuration it refuses."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cf.cc.malformed import malformed, publish_raw
from tests.cf.router.conftest import backends, nats_client, nats_server, nginx_binary, router  # noqa: F401
from tests.cf.router.test_router_integration import backend_of, wait_route

SUBJECTS = ("router.register", "router.unregister", "router.greet")


def test_the_router_keeps_serving_through_malformed_messages(router, backends, nats_client):  # noqa: F811
    backend = backends[0]
    template = {"host": backend.host, "port": backend.port, "uris": ["fuzz.bosh-py.local", "fuzz.bosh-py.local/p"],
                "app": "fuzz-app", "private_instance_id": "fuzz-instance", "private_instance_index": 0,
                "tags": {"component": "dea"}, "stale_threshold_in_seconds": 60}

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(subject=st.sampled_from(SUBJECTS), payload=malformed(template))
    def publish(subject: str, payload: bytes) -> None:
        reply = "_INBOX.fuzz" if subject == "router.greet" else ""
        publish_raw(nats_client._loop, nats_client.client, subject, payload, reply)

    publish()
    assert router.proc.poll() is None, router.logs()[-3000:]
    nats_client.publish("router.register", {**template, "uris": ["after-fuzz.bosh-py.local"]})
    wait_route(router, lambda: backend_of(router, "after-fuzz.bosh-py.local") == backend.name,
               message="a valid route registered after the fuzzing")
    varz = router.varz()
    assert varz["nginx"]["config_failures"] == 0, router.logs()[-3000:]
    assert varz["nats"]["rejected"] > 0
    conf = (router.workdir / "run" / "nginx.conf").read_text()
    assert not any(c in conf for c in "\x00\r\x1b"), "control characters reached nginx.conf"
    assert router.status_get("/health", auth=False)[0] == 200
