"""The router end to end: a real nats-server, the control plane as a process, Debian's nginx
as its data plane and three backends on 127.0.0.2-4. Routes arrive as router.register
messages, exactly as DEAs send them."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time

from .helpers import NatsClient, free_port, pid_alive, start_nats, start_router, wait_until

HELLO = "hello.example.com"


def get(router, host: str, path: str = "/", conn: http.client.HTTPConnection | None = None,
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", router.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        if own:
            conn.close()


def backend_of(router, host: str, path: str = "/") -> str | None:
    status, _, body = get(router, host, path)
    return json.loads(body)["backend"] if status == 200 else None


def wait_route(router, predicate, message: str) -> None:
    """Until the new configuration answers, then until only its workers do."""
    wait_until(predicate, message=message)
    router.settle()
    assert predicate(), message


def register(nats_client, backend, uris, app="app-guid-1", subject="router.register", **extra) -> None:
    nats_client.publish(subject, {"host": backend.host, "port": backend.port, "uris": uris,
                                  "app": app, "private_instance_id": f"iid-{backend.name}",
                                  "private_instance_index": 0, "tags": {"component": "dea-0"},
                                  **extra})


def test_registered_route_reaches_every_backend_round_robin(router, backends, nats_client):
    for backend in backends:
        register(nats_client, backend, [HELLO])
    wait_until(lambda: len(router.routes().get(HELLO, [])) == 3, message="3 endpoints in /routes")
    wait_route(router, lambda: backend_of(router, HELLO) is not None, message="the route in nginx")
    wait_route(router, lambda: len({backend_of(router, HELLO) for _ in range(12)}) == 3,
               message="nginx to know all 3 endpoints")
    # One client connection is served by one nginx worker, whose round robin is exact.
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=10)
    try:
        seen = [json.loads(get(router, HELLO, conn=conn)[2])["backend"] for _ in range(9)]
    finally:
        conn.close()
    assert sorted(seen) == sorted(b.name for b in backends for _ in range(3))
    assert all(seen[i] != seen[i + 1] for i in range(len(seen) - 1)), seen
    # New connections land on any worker; the upstream's shared zone keeps one rotation.
    fresh = [json.loads(get(router, HELLO)[2])["backend"] for _ in range(9)]
    assert sorted(fresh) == sorted(b.name for b in backends for _ in range(3)), fresh


def test_request_headers_added_by_the_router(router, backends, nats_client):
    backend = backends[0]
    register(nats_client, backend, ["headers.example.com"], app="the-app-guid")
    wait_route(router, lambda: backend_of(router, "headers.example.com"), message="headers route")
    before_ms = int(time.time() * 1000)
    status, _, body = get(router, "headers.example.com:80", "/some/path?q=1")
    assert status == 200
    echoed = json.loads(body)
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert echoed["path"] == "/some/path?q=1"
    assert headers["host"] == "headers.example.com:80"
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", headers["x-vcap-request-id"])
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert abs(int(headers["x-request-start"]) - before_ms) < 5000
    assert headers["x-cf-applicationid"] == "the-app-guid"
    assert headers["x-cf-instanceid"] == f"iid-{backend.name}"
    # A client's X-Forwarded-For is extended; its request id and scheme are the router's own
    # (tests/security/test_router_headers.py has the spoofing cases).
    _, _, body = get(router, "headers.example.com", headers={"X-Forwarded-For": "203.0.113.9"})
    headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"


def test_unknown_host_is_404_unknown_route(router):
    status, headers, body = get(router, "nobody-home.example.com")
    assert status == 404
    assert headers["x-cf-routererror"] == "unknown_route"
    assert b"nobody-home.example.com" in body


def test_path_routes_and_wildcards(router, backends, nats_client):
    register(nats_client, backends[1], ["paths.example.com/api"])
    register(nats_client, backends[2], ["*.wild.example.com"])
    wait_route(router, lambda: backend_of(router, "paths.example.com", "/api/v1") == backends[1].name,
               message="path route")
    assert backend_of(router, "paths.example.com", "/api") == backends[1].name
    assert get(router, "paths.example.com", "/apix")[0] == 404
    assert get(router, "paths.example.com", "/")[1]["x-cf-routererror"] == "unknown_route"
    wait_route(router, lambda: backend_of(router, "any.wild.example.com") == backends[2].name,
               message="wildcard route")


def test_unregister_removes_the_route(router, backends, nats_client):
    backend = backends[1]
    register(nats_client, backend, ["bye.example.com"])
    wait_route(router, lambda: backend_of(router, "bye.example.com") == backend.name, message="bye route")
    register(nats_client, backend, ["bye.example.com"], subject="router.unregister")
    wait_route(router, lambda: get(router, "bye.example.com")[0] == 404, message="the route to go")
    assert "bye.example.com" not in router.routes()


def test_stale_endpoints_are_pruned(router, backends, nats_client):
    register(nats_client, backends[2], ["stale.example.com"], stale_threshold_in_seconds=1)
    wait_until(lambda: backend_of(router, "stale.example.com") == backends[2].name,
               message="stale route")
    started = time.monotonic()
    wait_until(lambda: "stale.example.com" not in router.routes(), timeout=10,
               message="the stale endpoint to be pruned")
    wait_route(router, lambda: get(router, "stale.example.com")[0] == 404, message="nginx to drop it")
    assert time.monotonic() - started >= 0.4  # not before its threshold
    assert router.varz()["pruned"] >= 1


def test_a_dead_backend_is_retried_on_another(router, backends, nats_client):
    dead_port = free_port("127.0.0.5")  # nothing listens there
    nats_client.publish("router.register", {"host": "127.0.0.5", "port": dead_port,
                                            "uris": ["retry.example.com"], "app": "a"})
    register(nats_client, backends[0], ["retry.example.com"], app="a")
    wait_until(lambda: len(router.routes().get("retry.example.com", [])) == 2, message="2 endpoints")
    wait_route(router, lambda: get(router, "retry.example.com")[0] == 200, message="retry route")
    results = [get(router, "retry.example.com") for _ in range(10)]
    assert [status for status, _, _ in results] == [200] * 10
    assert {json.loads(body)["backend"] for _, _, body in results} == {backends[0].name}


def test_all_endpoints_dead_is_502_endpoint_failure(router, nats_client):
    nats_client.publish("router.register", {"host": "127.0.0.6", "port": free_port("127.0.0.6"),
                                            "uris": ["dead.example.com"], "app": "a"})
    wait_route(router, lambda: get(router, "dead.example.com")[0] != 404, message="dead route")
    status, headers, _ = get(router, "dead.example.com")
    assert status == 502
    assert headers["x-cf-routererror"] == "endpoint_failure"


def test_invalid_registrations_do_not_break_the_data_plane(router, backends, nats_client):
    register(nats_client, backends[0], ['evil.example.com; } server { listen 1', "ok2.example.com"])
    nats_client.publish("router.register", {"host": "1.2.3.4;", "port": 1, "uris": ["x.example.com"]})
    wait_route(router, lambda: backend_of(router, "ok2.example.com") == backends[0].name, message="ok2 route")
    assert router.varz()["nats"]["rejected"] >= 2
    assert router.varz()["nginx"]["config_failures"] == 0


def test_a_burst_of_registrations_is_one_reload(router, backends, nats_client):
    reloads = router.varz()["nginx"]["reloads"]
    for i in range(100):
        register(nats_client, backends[i % 3], [f"burst-{i}.example.com"])
    wait_route(router, lambda: backend_of(router, "burst-99.example.com"), message="the last burst route")
    assert all(backend_of(router, f"burst-{i}.example.com") for i in (0, 50))
    assert router.varz()["nginx"]["reloads"] - reloads <= 3
    # Re-registering the same endpoints (every 20 s from DEAs) changes nothing: no reload.
    time.sleep(0.5)
    reloads = router.varz()["nginx"]["reloads"]
    for i in range(100):
        register(nats_client, backends[i % 3], [f"burst-{i}.example.com"])
    time.sleep(0.8)
    assert router.varz()["nginx"]["reloads"] == reloads


def test_status_port(router, backends, nats_client):
    status, body = router.status_get("/health", auth=False)
    assert (status, body) == (200, b"ok\n")
    assert router.status_get("/routes", auth=False)[0] == 401
    assert router.status_get("/varz", auth=False)[0] == 401
    register(nats_client, backends[0], [HELLO])
    routes = wait_until(lambda: router.routes().get(HELLO), message="hello in /routes")
    endpoint = next(e for e in routes if e["address"] == f"{backends[0].host}:{backends[0].port}")
    assert endpoint["app"] == "app-guid-1"
    assert endpoint["private_instance_id"] == f"iid-{backends[0].name}"
    assert endpoint["tags"] == {"component": "dea-0"}
    varz = router.varz()
    assert varz["type"] == "Router" and varz["nats"]["connected"] and varz["nginx"]["pid"]


def test_router_greet_is_answered(router, nats_client):
    reply = nats_client.request("router.greet", {})
    assert reply == {"id": "router-test-id", "hosts": ["127.0.0.1"],
                     "minimumRegisterIntervalInSeconds": 20, "pruneThresholdInSeconds": 120}


def test_router_start_is_published_at_start_and_nginx_dies_with_the_router(
        nats_server, nats_client, nginx_binary):
    announcements = nats_client.collect("router.start")
    router = start_router(nats_server, nginx_binary, id="second-router", register_interval=5,
                          prune_threshold=60)
    try:
        wait_until(lambda: any(m.get("id") == "second-router" for m in announcements),
                   message="router.start")
        message = next(m for m in announcements if m["id"] == "second-router")
        assert message == {"id": "second-router", "hosts": ["127.0.0.1"],
                           "minimumRegisterIntervalInSeconds": 5, "pruneThresholdInSeconds": 60}
        nginx_pid = router.nginx_pid()
        assert nginx_pid
    finally:
        router.stop()  # fails the test if nginx outlived its router


def test_nginx_killed_is_restarted_with_the_routes_and_its_old_workers_go(
        nats_server, nats_client, nginx_binary, backends):
    router = start_router(nats_server, nginx_binary, id="third-router")
    try:
        register(nats_client, backends[0], ["phoenix.example.com"])
        wait_route(router, lambda: backend_of(router, "phoenix.example.com") == backends[0].name,
                   message="phoenix route")
        master, workers = router.nginx_pid(), router.nginx_workers()
        assert master and workers
        os.kill(master, signal.SIGKILL)
        wait_until(lambda: router.nginx_pid() not in (None, master), message="a new nginx master")
        router.settle()
        wait_until(lambda: not any(pid_alive(pid) for pid in workers),
                   message="the dead master's workers to be killed")
        assert backend_of(router, "phoenix.example.com") == backends[0].name
        assert router.status_get("/health", auth=False)[0] == 200
    finally:
        router.stop()


def test_router_start_is_published_again_after_a_nats_reconnect(nginx_binary):
    """A subscriber cannot be relied on to be back before the router is, so the router's own
    count of announcements is checked, then that it answers on the new server."""
    nats = start_nats()
    router = client = None
    try:
        router = start_router(nats, nginx_binary, id="reconnecting-router")
        wait_until(lambda: router.varz()["nats"]["announcements"] == 1, message="the first router.start")
        nats.proc.kill()
        nats.proc.wait(5)
        port = nats.port
        nats.stop()
        wait_until(lambda: not router.varz()["nats"]["connected"], message="the router to notice")
        nats = start_nats(port=port)
        wait_until(lambda: router.varz()["nats"]["announcements"] == 2, timeout=20,
                   message="router.start after the reconnect")
        client = NatsClient(nats)
        assert client.request("router.greet", {})["id"] == "reconnecting-router"
    finally:
        if client is not None:
            client.close()
        if router is not None:
            router.stop()
        nats.stop()


def test_nginx_does_not_outlive_a_killed_control_plane(nats_server, nginx_binary):
    router = start_router(nats_server, nginx_binary, id="doomed-router")
    nginx = [router.nginx_pid(), *router.nginx_workers()]
    try:
        assert all(nginx)
        router.proc.kill()  # SIGKILL: no chance to stop nginx itself
        router.proc.wait(5)
        wait_until(lambda: not any(pid_alive(pid) for pid in nginx),
                   message="nginx to follow its control plane (PR_SET_PDEATHSIG)")
    finally:
        router.stop()
