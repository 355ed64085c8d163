"""The router's status port as an operator and Prometheus use it: the control plane as its
real process, Debian's nginx as its data plane, a real nats-server; /metrics read with
prometheus_client's own parser."""

from __future__ import annotations

import http.client
import json

from tests.cf.metrics.scrape_support import families, http_get, samples, value
from tests.cf.router.helpers import start_router
from tests.harness import wait_until

APP = "metrics-app-guid"
HOST = "metrics.example.com"


def _get(router, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _scrape(router) -> dict:
    status, headers, body = http_get(f"http://127.0.0.1:{router.status_port}/metrics",
                                     router.status_user, router.status_password)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(body.decode())


def test_metrics_count_requests_by_app_and_status_and_time_the_upstream(nats_server, nats_client,
                                                                        backend, nginx_binary):
    router = start_router(nats_server, nginx_binary)
    try:
        url = f"http://127.0.0.1:{router.status_port}/metrics"
        assert http_get(url)[0] == 401
        assert http_get(url, router.status_user, "wrong-password")[0] == 401
        before = _scrape(router)
        assert value(before, "cf_router_routes") == 0
        text = http_get(url, router.status_user, router.status_password)[2].decode()
        assert families(text)["cf_router_upstream_latency_seconds"] == "histogram"
        assert families(text)["cf_router_requests"] == "counter"

        nats_client.publish("router.register", {"host": backend.host, "port": backend.port, "uris": [HOST],
                                                "app": APP, "private_instance_id": "iid-1",
                                                "private_instance_index": 0})
        wait_until(lambda: _get(router, HOST) == 200, message="the route in nginx")
        router.settle()
        for _ in range(5):
            assert _get(router, HOST) == 200
        assert _get(router, "nowhere.example.com") == 404

        def counted() -> dict:
            scraped = _scrape(router)
            return scraped if value(scraped, "cf_router_requests_total", app=APP, status="2xx") >= 6 else {}
        wait_until(lambda: bool(counted()), message="nginx's metric lines to reach the control plane")
        after = counted()
        assert value(after, "cf_router_requests_total", app="", status="4xx") >= 1
        assert value(after, "cf_router_requests_total", app=APP, status="4xx") == 0
        assert value(after, "cf_router_upstream_latency_seconds_count") >= 6
        assert value(after, "cf_router_upstream_latency_seconds_bucket", le="+Inf") == \
            value(after, "cf_router_upstream_latency_seconds_count")
        assert 0 < value(after, "cf_router_upstream_latency_seconds_sum") < 10
        assert value(after, "cf_router_routes") == 1 and value(after, "cf_router_endpoints") == 1
        assert value(after, "cf_router_nginx_reloads_total") > value(before, "cf_router_nginx_reloads_total")
        assert value(after, "cf_router_metric_lines_malformed_total") == 0

        varz = router.varz()
        assert varz["type"] == "Router" and varz["index"] == 0
        assert varz["host"] == f"127.0.0.1:{router.status_port}"
        assert varz["responses"]["2xx"] >= 6 and varz["responses"]["4xx"] >= 1
        assert varz["requests"] >= 7 and varz["mem"] > 0 and "uptime" in varz
        assert "credentials" not in varz
        assert "status-secret" not in router.logs()
    finally:
        router.stop()


def test_healthz_and_varz_need_the_status_credentials_health_does_not(nats_server, nginx_binary):
    router = start_router(nats_server, nginx_binary)
    try:
        base = f"http://127.0.0.1:{router.status_port}"
        for path in ("/healthz", "/varz", "/routes", "/metrics"):
            status, headers, _ = http_get(base + path)
            assert status == 401, path
            assert headers["WWW-Authenticate"] == 'Basic realm="cf-router"'
            assert http_get(base + path, "router-status", "not-it")[0] == 401, path
            assert http_get(base + path, "someone-else", router.status_password)[0] == 401, path
        assert http_get(base + "/healthz", router.status_user, router.status_password)[:3:2] == (200, b"ok\n")
        assert http_get(base + "/health") [:3:2] == (200, b"ok\n")
        assert http_get(base + "/nothing", router.status_user, router.status_password)[0] == 404
    finally:
        router.stop()


def test_router_announces_itself_and_answers_discover(nats_server, nats_client, nginx_binary):
    announced = nats_client.collect("vcap.component.announce")
    router = start_router(nats_server, nginx_binary, index=3)
    try:
        wait_until(lambda: any(m.get("type") == "Router" for m in announced), message="the announcement")
        message = next(m for m in announced if m.get("type") == "Router")
        assert message["index"] == 3
        assert message["host"] == f"127.0.0.1:{router.status_port}"
        assert message["credentials"] == [router.status_user, router.status_password]
        assert len(message["uuid"]) == 32 and message["uptime"].endswith("s") and message["start"]

        answer = nats_client.request("vcap.component.discover", {})
        assert answer["uuid"] == message["uuid"] and answer["host"] == message["host"]
        # what an operator's tool does next: read /varz at the announced address
        user, password = answer["credentials"]
        status, _, body = http_get(f"http://{answer['host']}/varz", user, password)
        assert status == 200 and json.loads(body)["uuid"] == message["uuid"]
        assert router.status_password not in router.logs()
    finally:
        router.stop()
