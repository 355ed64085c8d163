"""Slowloris against the real cloud controller: many connections that send nothing, or a
request one byte at a time, must neither pin its threads nor keep a real client out.
The CC runs as its job runs it (tests/cf/cc/plumbing.start_cc) with small bounds."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cf.cc.plumbing import end_process, start_cc
from tests.cf.conftest import nats_server  # noqa: F401
from tests.harness import wait_until

HEADER_TIMEOUT = 1.5
MAX_CONNECTIONS = 24
ATTACKERS = 40          # each kind: more than the bound


@pytest.fixture
def cc(tmp_path, nats_server):  # noqa: F811 - fixture imported above
    process = start_cc(tmp_path / "cc", nats_server, http_header_timeout=HEADER_TIMEOUT,
                       http_io_timeout=30, http_max_connections=MAX_CONNECTIONS)
    yield process
    end_process(process.proc)
    print(process.log()[-3000:])


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads: line")


def _closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed (or reset) the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b"" or _closed_by_peer(sock)
    except BlockingIOError:
        return False
    except OSError:
        return True


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and Content-Length body) from a keep-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


class Dribbler(threading.Thread):
    """Sends one byte of a never-ending request to each socket in turn (slowloris)."""

    REQUEST = b"GET /v2/info HTTP/1.1\r\nHost: cc\r\n" + b"X-Padding: a\r\n" * 10_000

    def __init__(self, socks: list[socket.socket]) -> None:
        super().__init__(daemon=True)
        self.socks = socks
        self.stop = threading.Event()

    def run(self) -> None:
        position = 0
        while not self.stop.wait(0.1):
            for sock in self.socks:
                try:
                    sock.send(self.REQUEST[position:position + 1])
                except OSError:
                    continue
            position += 1


def test_idle_and_byte_at_a_time_connections_do_not_pin_the_cc(cc):
    idle: list[socket.socket] = []
    slow: list[socket.socket] = []
    dribbler = Dribbler(slow)
    try:
        for _ in range(ATTACKERS):
            idle.append(socket.create_connection(("127.0.0.1", cc.port), timeout=5))
            slow.append(socket.create_connection(("127.0.0.1", cc.port), timeout=5))
        dribbler.start()
        time.sleep(0.5)
        # a real client is answered while the attack goes on
        for _ in range(3):
            response = httpx.get(cc.url + "/v2/info", timeout=5)
            assert response.status_code == 200, response.text
            time.sleep(0.3)
        # no thread per attacking connection: the bound holds
        assert _threads(cc.proc.pid) <= MAX_CONNECTIONS + 10, _threads(cc.proc.pid)
        # every attacking connection is closed once its headers are overdue
        wait_until(lambda: all(_closed_by_peer(s) for s in idle + slow), timeout=HEADER_TIMEOUT + 5,
                   interval=0.2, message="the CC to close idle and byte-at-a-time connections")
        assert httpx.get(cc.url + "/v2/info", timeout=5).status_code == 200
    finally:
        dribbler.stop.set()
        for sock in idle + slow:
            sock.close()


def test_a_keep_alive_connection_serves_requests_then_is_closed_when_idle(cc):
    with socket.create_connection(("127.0.0.1", cc.port), timeout=5) as sock:
        for _ in range(2):  # keep-alive still works within the deadline
            sock.sendall(b"GET /v2/info HTTP/1.1\r\nHost: cc\r\n\r\n")
            response = _read_response(sock)
            assert response.startswith(b"HTTP/1.1 200"), response[:200]
            time.sleep(HEADER_TIMEOUT / 3)
        started = time.monotonic()
        wait_until(lambda: _closed_by_peer(sock), timeout=HEADER_TIMEOUT + 5, interval=0.1,
                   message="the idle keep-alive connection to be closed")
        assert time.monotonic() - started >= HEADER_TIMEOUT / 3  # not at once: after the deadline


def test_when_every_connection_is_busy_a_new_one_is_refused_not_queued(tmp_path, nats_server):  # noqa: F811
    """Connections busy with a request (here: a body that never comes) cannot be evicted; past
    the bound a newcomer gets an immediate 503, and each busy one ends at the I/O timeout."""
    cc = start_cc(tmp_path / "cc", nats_server, http_header_timeout=5, http_io_timeout=2,
                  http_max_connections=2)
    stuck: list[socket.socket] = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", cc.port), timeout=5)
            sock.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: cc\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
            stuck.append(sock)
        time.sleep(0.5)  # both are now in their handlers, reading the body
        refused = httpx.get(cc.url + "/v2/info", timeout=5)
        assert refused.status_code == 503 and refused.json()["error_code"] == "CF-ServiceUnavailable"
        wait_until(lambda: all(_closed_by_peer(s) for s in stuck), timeout=10, interval=0.2,
                   message="the stalled bodies to time out")
        assert httpx.get(cc.url + "/v2/info", timeout=5).status_code == 200
    finally:
        for sock in stuck:
            sock.close()
        end_process(cc.proc)
