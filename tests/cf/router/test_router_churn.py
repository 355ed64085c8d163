"""Route churn: while a client sends requests to one app through the router, 1,000 routes of
other hosts are registered and then unregistered over NATS (what scaling apps do). Real
nats-server, control plane and Debian's nginx.

Why it can fail: every change that reaches nginx is a reload (new workers, the old ones
finish and exit); a reload per message would start hundreds of worker generations, and a
reload that dropped a connection would fail a request. The router coalesces changes (one
reload per ``reload_debounce`` window) and bounds old workers (``worker_shutdown_timeout``)."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from tests.load_support import LoadGenerator

from .helpers import (
    HAPROXY_BLOBS,
    FreshConnectionLoad,
    start_backend,
    start_haproxy,
    start_router,
    wait_until,
)
from .test_router_integration import get, register, wait_route

APP = "busy.example.com"
CHURN_ROUTES = 1000
BATCH = 50


@pytest.fixture
def app_backend():
    backend = start_backend("busy", "127.0.0.6")
    yield backend
    backend.stop()


def _nginx_processes(router) -> int:
    """Workers of the current and of every older generation (all the master's children)."""
    return len(router.nginx_workers())


def test_thousand_routes_churn_loses_no_request(nats_server, nginx_binary, nats_client, app_backend):
    debounce = 0.2
    router = start_router(nats_server, nginx_binary, nginx={"reload_debounce": debounce})
    try:
        register(nats_client, app_backend, [APP])
        wait_route(router, lambda: get(router, APP)[0] == 200, message="the app's route in nginx")
        reloads_before = router.varz()["nginx"]["reloads"]
        peak = [0]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], _nginx_processes(router))
                sampling.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        url = f"http://127.0.0.1:{router.port}/"
        with LoadGenerator(url, APP, interval=0.01, workers=2) as load, \
                FreshConnectionLoad(url, APP, interval=0.01, workers=2) as fresh:
            sampler.start()
            load.wait_for(50)
            started = time.monotonic()
            for subject in ("router.register", "router.unregister"):
                for first in range(0, CHURN_ROUTES, BATCH):
                    for n in range(first, first + BATCH):
                        register(nats_client, app_backend, [f"churn-{n}.example.com"], app=f"app-{n}",
                                 subject=subject)
                    time.sleep(0.05)
                if subject == "router.register":
                    wait_until(lambda: len(router.routes()) == CHURN_ROUTES + 1, 30,
                               message="1,001 routes in the table")
            wait_until(lambda: list(router.routes()) == [APP], 30, message="only the app's route left")
            churn_seconds = time.monotonic() - started
            router.settle(30)
            load.wait_for(50)
        sampling.set()
        sampler.join(5)

        result = load.result
        reloads = router.varz()["nginx"]["reloads"] - reloads_before
        print(f"\nroute churn: {2 * CHURN_ROUTES} route changes in {churn_seconds:.1f}s, "
              f"{reloads} nginx reloads, at most {peak[0]} nginx workers at once; "
              f"new connection per request: {fresh.sent} sent, {len(fresh.failures)} failed; "
              f"keep-alive without retries: {result.summary()}")
        assert fresh.failures == [], fresh.failures[:10]
        assert fresh.sent > 100 and result.sent > 100, "the load generators barely ran"
        # Keep-alive clients: a reload's old worker closes its idle connections, and a request
        # sent at that instant gets no answer (HTTP/1.1's race, RFC 9112 9.3.1: the client
        # retries). Only that kind of failure is allowed, never an HTTP error.
        closed = ("RemoteProtocolError: Server disconnected", "ReadError: [Errno 104]")
        assert all(reason.startswith(closed) for _, reason in result.failures), result.summary()
        assert result.failed <= reloads, result.summary()
        # coalesced: at most one reload per debounce window (plus the one that ends a burst)
        assert 2 <= reloads <= churn_seconds / debounce + 2, f"{reloads} reloads in {churn_seconds:.1f}s"
    finally:
        router.stop()


def _churn(nats_client, backend) -> None:
    for subject in ("router.register", "router.unregister"):
        for first in range(0, CHURN_ROUTES, BATCH):
            for n in range(first, first + BATCH):
                register(nats_client, backend, [f"churn-{n}.example.com"], app=f"app-{n}", subject=subject)
            time.sleep(0.05)


@pytest.mark.skipif(not list(HAPROXY_BLOBS.glob("haproxy*.deb")),
                    reason="releases/haproxy's blob is missing (scripts/prepare-haproxy-blobs)")
def test_churn_through_haproxy_loses_no_keep_alive_request(nats_server, nginx_binary, nats_client,
                                                           app_backend):
    """The platform's front door: keep-alive clients through HAProxy, which retries the
    request a reload's closing connection left unanswered. Zero failures."""
    router = start_router(nats_server, nginx_binary, nginx={"reload_debounce": 0.2})
    haproxy = None
    try:
        register(nats_client, app_backend, [APP])
        wait_route(router, lambda: get(router, APP)[0] == 200, message="the app's route in nginx")
        haproxy = start_haproxy(router)
        url = f"http://127.0.0.1:{haproxy.port}/"
        wait_until(lambda: _status(url) == 200, 15, message="HAProxy to find the router healthy")
        reloads_before = router.varz()["nginx"]["reloads"]
        with LoadGenerator(url, APP, interval=0.01, workers=4) as load:
            load.wait_for(50)
            _churn(nats_client, app_backend)
            wait_until(lambda: list(router.routes()) == [APP], 30, message="only the app's route left")
            router.settle(30)
            load.wait_for(50)
        reloads = router.varz()["nginx"]["reloads"] - reloads_before
        print(f"\nroute churn through HAProxy: {2 * CHURN_ROUTES} route changes, {reloads} nginx "
              f"reloads; keep-alive: {load.result.summary()}")
        assert reloads >= 2
        assert load.result.sent > 200, "the load generator barely ran"
        assert load.result.failed == 0, load.result.summary()
    finally:
        if haproxy is not None:
            haproxy.stop()
        router.stop()


def _status(url: str) -> int | None:
    import httpx
    try:
        return httpx.get(url, headers={"Host": APP}, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_old_workers_are_bounded_by_worker_shutdown_timeout(nats_server, nginx_binary, nats_client,
                                                            app_backend):
    """A long request keeps its worker after a reload only for worker_shutdown_timeout."""
    router = start_router(nats_server, nginx_binary, nginx={"worker_shutdown_timeout": 1.0})
    try:
        register(nats_client, app_backend, [APP])
        wait_route(router, lambda: get(router, APP)[0] == 200, message="the app's route in nginx")
        workers = int(router.config["nginx"]["worker_processes"])
        app_backend.server.slow_started.clear()
        cut: list[Exception] = []

        def slow_request() -> None:
            try:
                get(router, APP, "/slow/20")
            except (OSError, http.client.HTTPException) as e:  # the bound cuts it: expected
                cut.append(e)

        slow = threading.Thread(target=slow_request, daemon=True)
        slow.start()
        assert app_backend.server.slow_started.wait(10)
        register(nats_client, app_backend, ["another.example.com"])  # a change: one reload
        wait_until(lambda: len(router.nginx_workers()) > workers, 10,
                   message="an old worker kept by the slow request")
        reloaded = time.monotonic()
        router.settle(10)
        assert time.monotonic() - reloaded < 5, "the old worker outlived worker_shutdown_timeout"
        slow.join(5)
        assert cut, "the request held past worker_shutdown_timeout should have been cut"
    finally:
        router.stop()
