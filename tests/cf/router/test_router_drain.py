"""Router drain, as the agent runs it before stopping the job: the rendered bin/drain is
called with BOSH's arguments and its integer obeyed (wait |n|, ask again while negative),
against the real control plane, Debian's nginx and a backend that answers slowly.

What must hold (gorouter's drain): /health answers 503 from the first call, so the load
balancer stops sending; nginx keeps serving for drain.wait; then it stops accepting, and a
request that was in flight when the drain began still gets its answer; bin/drain says 0
only once nginx is gone."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.load_support import LoadGenerator

from .helpers import (
    HAPROXY_BLOBS,
    pid_alive,
    render_drain_script,
    run_drain_script,
    start_backend,
    start_haproxy,
    start_router,
    wait_until,
)
from .test_router_integration import get, register, wait_route

SLOW = "slow.example.com"
DRAIN_WAIT = 1.5


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def slow_backend():
    backend = start_backend("slow", "127.0.0.5")
    yield backend
    backend.stop()


@pytest.fixture
def draining_router(nats_server, nginx_binary):
    router = start_router(nats_server, nginx_binary, drain={"wait": DRAIN_WAIT, "timeout": 10.0})
    yield router
    router.stop()


def test_drain_answers_503_keeps_serving_then_finishes_the_request_in_flight(
        draining_router, slow_backend, nats_client):
    router = draining_router
    register(nats_client, slow_backend, [SLOW])
    wait_route(router, lambda: get(router, SLOW)[0] == 200, message="the slow route in nginx")
    script = render_drain_script(router)
    nginx_pid = router.nginx_pid()
    assert nginx_pid is not None

    answers: list[tuple[int, dict, bytes]] = []
    in_flight = threading.Thread(target=lambda: answers.append(get(router, SLOW, "/slow/4")))
    in_flight.start()
    try:
        assert slow_backend.server.slow_started.wait(10), "the slow request never reached the backend"
        started = time.monotonic()
        outputs = [run_drain_script(script, "job_shutdown", "hash_unchanged")]
        assert outputs == [-1], "a drain that has just begun must ask to be called again"
        assert router.status_get("/health", auth=False) == (503, b"draining\n")
        assert router.varz()["draining"] is True
        # the load balancer needs drain.wait to notice: until then new requests are served
        assert get(router, SLOW)[0] == 200
        assert time.monotonic() - started < DRAIN_WAIT, "the checks above took longer than drain.wait"

        # after drain.wait nginx stops accepting while the slow request is still in flight
        wait_until(lambda: not _accepts(router.port), 5, message="nginx to stop accepting")
        assert in_flight.is_alive(), "the slow request ended before nginx stopped accepting"

        while outputs[-1] < 0:  # the agent's dynamic drain: wait |n|, then job_check_status
            assert time.monotonic() - started < DRAIN_WAIT + 10 + 10, f"bin/drain never said 0: {outputs}"
            assert router.status_get("/health", auth=False)[0] == 503
            time.sleep(abs(outputs[-1]))
            outputs.append(run_drain_script(script, "job_check_status", "hash_unchanged"))
        drained_after = time.monotonic() - started
    finally:
        in_flight.join(15)

    assert [status for status, _, _ in answers] == [200], "the request in flight lost its answer"
    assert outputs[-1] == 0 and set(outputs[:-1]) == {-1}, outputs
    assert drained_after >= 3, f"bin/drain said 0 after {drained_after:.1f}s, before the 4 s request ended"
    assert not pid_alive(nginx_pid), "bin/drain said 0 while nginx still ran"
    assert router.drain_state_file.read_text().startswith("drained")
    # drained, not dead: the control plane waits for the agent's stop (no nginx restart)
    assert router.proc.poll() is None
    time.sleep(1.5)  # longer than the control plane's nginx restart delay
    assert not _accepts(router.port) and router.nginx_pid() is None, "nginx came back after the drain"
    assert run_drain_script(script, "job_check_status", "hash_unchanged") == 0



def test_the_agents_drain_action_waits_for_the_router(draining_router, slow_backend, nats_client):
    """bin/drain run by the agent's own drain action (bosh_py/agent/actions/drain.py), which
    obeys the -1s itself: it returns only once the request in flight was answered."""
    import asyncio
    import logging
    from types import SimpleNamespace

    from bosh_py.agent.actions import drain
    from bosh_py.agent.paths import Paths

    router = draining_router
    register(nats_client, slow_backend, [SLOW])
    wait_route(router, lambda: get(router, SLOW)[0] == 200, message="the slow route in nginx")
    agent_root = router.workdir / "agent-root"
    job_bin = agent_root / "var/vcap/jobs/router/bin"
    job_bin.mkdir(parents=True)
    render_drain_script(router).rename(job_bin / "drain")
    # the parts of the agent's ActionContext the drain action reads (no NATS, no supervisor)
    ctx = SimpleNamespace(paths=Paths(agent_root), load_spec=dict, jobs_lock=asyncio.Lock(),
                          settings=SimpleNamespace(raw={}), log=logging.getLogger("test-agent"))

    answers: list[int] = []
    slow_backend.server.slow_started.clear()
    in_flight = threading.Thread(target=lambda: answers.append(get(router, SLOW, "/slow/3")[0]))
    in_flight.start()
    try:
        assert slow_backend.server.slow_started.wait(10)
        started = time.monotonic()
        waited = asyncio.run(drain.run(ctx, "shutdown"))
        took = time.monotonic() - started
    finally:
        in_flight.join(15)
    assert answers == [200], "the request in flight lost its answer"
    assert waited >= 2 and took >= 2.5, f"the agent's drain ended after {took:.1f}s, before the request"
    assert not _accepts(router.port) and router.nginx_pid() is None
    assert (agent_root / "var/vcap/sys/log/router/drain.stdout.log").read_text().split()[-1] == "0"


@pytest.mark.skipif(not list(HAPROXY_BLOBS.glob("haproxy*.deb")),
                    reason="releases/haproxy's blob is missing (scripts/prepare-haproxy-blobs)")
def test_a_router_drained_behind_haproxy_loses_no_request(nats_server, nginx_binary, slow_backend,
                                                          nats_client):
    """Two routers behind HAProxy (health checks every second, out after 2 failures); one is
    drained as the agent would before stopping it: keep-alive clients see no failure."""
    routers, haproxy = [], None
    try:
        for _ in range(2):
            routers.append(start_router(nats_server, nginx_binary, drain={"wait": 5.0, "timeout": 10.0}))
        register(nats_client, slow_backend, [SLOW])
        for router in routers:
            wait_route(router, lambda: get(router, SLOW)[0] == 200, message="the route in both routers")
        haproxy = start_haproxy(*routers)
        url = f"http://127.0.0.1:{haproxy.port}/"
        wait_until(lambda: _answers(url), 15, message="HAProxy to answer")
        script = render_drain_script(routers[0])
        with LoadGenerator(url, SLOW, interval=0.01, workers=4) as load:
            load.wait_for(50)
            drain_started = time.time()
            outputs = [run_drain_script(script, "job_shutdown", "hash_unchanged")]
            while outputs[-1] < 0 and len(outputs) < 60:
                time.sleep(abs(outputs[-1]))
                outputs.append(run_drain_script(script, "job_check_status", "hash_unchanged"))
            load.wait_for(50)
        print(f"\nrouter drained behind HAProxy after {len(outputs)} bin/drain calls; "
              f"{load.result.summary()}")
        assert outputs[-1] == 0, outputs
        assert routers[0].nginx_pid() is None, "the drained router's nginx still runs"
        assert load.result.sent > 200
        assert load.result.failed == 0, load.result.summary()
        # HAProxy took the router out on its 503s (2 checks a second apart), well before its
        # nginx stopped accepting at drain.wait (5 s): HAProxy's retries did not hide a refusal
        late = [t for t in _served_at(routers[0]) if t >= int(drain_started) + 4]
        assert late == [], f"the draining router still got requests {len(late)} times after 4 s"
        assert [t for t in _served_at(routers[1]) if t >= int(drain_started) + 4], "router 1 served nothing"
    finally:
        if haproxy is not None:
            haproxy.stop()
        for router in routers:
            router.stop()



def _answers(url: str) -> bool:
    import httpx
    try:
        return httpx.get(url, headers={"Host": SLOW}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _served_at(router) -> list[int]:
    """Unix seconds of the requests in the router's nginx access log."""
    import calendar
    import re
    stamps = re.findall(r"\[(\d+/\w+/\d+:\d+:\d+:\d+) \+0000\]",
                        (router.workdir / "log" / "access.log").read_text())
    return [calendar.timegm(time.strptime(stamp, "%d/%b/%Y:%H:%M:%S")) for stamp in stamps]
