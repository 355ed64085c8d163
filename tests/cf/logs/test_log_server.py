"""The log server with real components on both sides: the real server process, the real
cloud controller authorizing followers, the real emitter sending and the real ``cf-py``
printing; a syslog receiver on 127.0.0.2 for drains (test_drain_policy.py: what is refused)."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time

import httpx
import pytest
from cf_platform.log_server.emitter import EmitterSettings, LogEmitter

from tests.cf.cc.plumbing import end_process
from tests.harness import free_port, wait_until

from .log_server_support import CF_LINE, SyslogReceiver, post_lines, start_log_server


def line(app: str, message: str, source: str = "APP", index: int = 0, stream: str = "OUT", ts: float | None = None):
    return {"app": app, "source": source, "index": index, "stream": stream,
            "timestamp": ts if ts is not None else time.time(), "message": message}


class Lines:
    """A running process's stdout, line by line, with timeouts (one reader thread)."""

    def __init__(self, proc) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc) -> None:
        for text in proc.stdout:
            self._lines.put(text.rstrip("\n"))

    def next(self, timeout: float = 10.0) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s") from None


def test_recent_lines_print_as_cf_prints_them(cf, log_server, app_guid):
    now = time.time()
    assert post_lines(log_server, "dea", [
        line(app_guid, "staging it", "STG", 0, ts=now - 3),
        line(app_guid, "hello from 0", "APP", 0, ts=now - 2),
        line(app_guid, "oops on 1", "APP", 1, "ERR", ts=now - 1),
    ]).status_code == 200
    assert post_lines(log_server, "router", [line(app_guid, 'talker.apps.test - "GET / HTTP/1.1" 200', "RTR", 1,
                                                  ts=now)]).status_code == 200
    out = cf.ok("logs", "talker", "--recent").splitlines()
    parsed = [CF_LINE.match(text).groups() for text in out]
    assert parsed == [("STG", "0", "OUT", "staging it"), ("APP", "0", "OUT", "hello from 0"),
                      ("APP", "1", "ERR", "oops on 1"), ("RTR", "1", "OUT", 'talker.apps.test - "GET / HTTP/1.1" 200')]


def test_cf_py_logs_streams_live_until_ctrl_c(cf, log_server, app_guid):
    follower = cf.follow("logs", "talker")
    try:
        out = Lines(follower)
        assert out.next() == "Connected, tailing logs for app talker..."
        emitter = LogEmitter(EmitterSettings(**log_server.emitter_settings("dea")))
        # the follower joins once its request is in: repeat a first line until it shows
        deadline = time.monotonic() + 10
        first = None
        while first is None and time.monotonic() < deadline:
            emitter.emit(app_guid, "APP", 0, "are you there")
            try:
                first = out.next(timeout=0.5)
            except AssertionError:
                pass
        assert first is not None and first.endswith("[APP/0] OUT are you there")
        for n in range(5):
            emitter.emit(app_guid, "APP", 2, f"line {n}", "ERR")
        emitter.close()
        seen: list[str] = []
        while len(seen) < 5:
            text = out.next()
            if "are you there" not in text:
                seen.append(text)
        assert [CF_LINE.match(t).groups() for t in seen] == [("APP", "2", "ERR", f"line {n}") for n in range(5)]
        follower.send_signal(signal.SIGINT)
        assert follower.wait(10) == 0
    finally:
        if follower.poll() is None:
            end_process(follower)


def test_followers_are_authorized_by_the_cloud_controller(cf, log_server, app_guid, admin):
    post_lines(log_server, "dea", [line(app_guid, "secret business")])
    for headers in ({}, {"Authorization": "bearer not-a-token"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        for what in ("recent", "stream"):
            r = httpx.get(f"{log_server.url}/v1/apps/{app_guid}/{what}", headers=headers, timeout=10)
            assert r.status_code == 401 and "secret business" not in r.text, (headers, what, r.text)
    # a token the CC accepts, for an app the CC does not show it: refused, even though lines exist
    post_lines(log_server, "dea", [line("not-an-app-guid", "other tenant's line")])
    r = httpx.get(f"{log_server.url}/v1/apps/not-an-app-guid/recent", headers=admin, timeout=10)
    assert r.status_code == 404 and "other tenant" not in r.text
    r = httpx.get(f"{log_server.url}/v1/apps/{app_guid}/recent", headers=admin, timeout=10)
    assert r.status_code == 200 and "secret business" in r.text
    # cf-py with a token the CC refuses: a clear error, exit 1
    saved = json.loads(cf.config.read_text())
    saved["token"] = "forged"
    cf.config.write_text(json.dumps(saved))
    for args in (("logs", "talker", "--recent"), ("logs", "talker")):
        result = cf(*args, timeout=20)
        assert result.returncode == 1 and "cf-py login" in result.stderr and "secret" not in result.stdout


def test_senders_may_only_send_their_own_source_types(log_server, app_guid, admin):
    assert post_lines(log_server, "router", [line(app_guid, "forged app line", "APP")]).status_code == 403
    assert post_lines(log_server, "dea", [line(app_guid, "forged access line", "RTR")]).status_code == 403
    assert post_lines(log_server, "dea", [line(app_guid, "x")], password="wrong").status_code == 401
    bad = post_lines(log_server, "dea", [line(app_guid, "fine"), {"app": app_guid, "source": "APP", "message": 7}])
    assert bad.status_code == 400 and "line 2.message" in bad.text
    r = httpx.get(f"{log_server.url}/v1/apps/{app_guid}/recent", headers=admin, timeout=10)
    assert r.status_code == 200 and r.text == ""       # nothing of a refused batch was kept
    assert "forged" not in log_server.log()


def test_the_recent_buffer_is_bounded_per_app(tmp_path, logs_cc, admin, app_guid):
    server = start_log_server(tmp_path / "small", logs_cc.url, recent_lines=10)
    try:
        post_lines(server, "dea", [line(app_guid, f"n{n}", ts=1_700_000_000 + n) for n in range(25)])
        r = httpx.get(f"{server.url}/v1/apps/{app_guid}/recent", headers=admin, timeout=10)
        assert [l.split('"message": "')[1].split('"')[0] for l in r.text.splitlines()] == [f"n{n}" for n in range(15, 25)]
    finally:
        end_process(server.proc)


def test_syslog_drain_gets_the_apps_lines_octet_counted(tmp_path, logs_cc, app_guid):
    syslog = SyslogReceiver("127.0.0.2")        # loopback: blocked but for this address
    server = start_log_server(tmp_path / "drained", logs_cc.url, drains={app_guid: [syslog.url]},
                              drain_allowed_ranges=["127.0.0.2"])
    try:
        post_lines(server, "dea", [line(app_guid, "to the drain", "APP", 3, "ERR"),
                                   line("some-other-app", "not for this drain")])
        message = syslog.wait_for("to the drain")
        assert message.startswith("<11>1 ") and f" {app_guid} [APP/3] - - to the drain" in message
        time.sleep(0.3)
        assert not any("not for this drain" in m for m in syslog.messages)
    finally:
        end_process(server.proc)
        syslog.close()


def test_the_cc_tells_drains_only_to_internal_callers(logs_cc, admin):
    r = httpx.get(logs_cc.url + "/internal/log_drains", headers=admin)
    assert r.status_code == 401
    r = httpx.get(logs_cc.url + "/internal/log_drains", auth=logs_cc.internal_auth)
    assert r.status_code == 200 and r.json() == {"drains": {}}


def test_the_emitter_drops_and_counts_instead_of_blocking_when_the_server_is_down():
    emitter = LogEmitter(EmitterSettings(f"http://127.0.0.1:{free_port()}", "dea", "pw", queue_size=1000))
    started = time.monotonic()
    for n in range(50_000):
        emitter.emit("some-app", "APP", 0, f"line {n}")
    assert time.monotonic() - started < 2.0
    assert emitter.dropped >= 50_000 - 1000 - 500     # at most a queue and a batch still on their way
    assert emitter.sent == 0
    emitter.close(timeout=1)


def test_a_bad_config_is_refused_naming_the_key(tmp_path):
    import subprocess

    from tests.cf.cc.plumbing import vm_python
    path = tmp_path / "bad.json"
    path.write_text('{"cloud_controller": {"url": "http://127.0.0.1:1"}, "senders": {"dea": {"password": "x", '
                    '"sources": ["APP", "NOPE"]}}}')
    python, env = vm_python(tmp_path)
    result = subprocess.run([*python, "-m", "cf_platform.log_server", "--config", str(path)], capture_output=True, check=False,
                            text=True, env=env, timeout=30)
    assert result.returncode == 2 and "senders.dea.sources" in result.stderr


def test_control_characters_in_a_line_never_reach_the_readers_terminal(cf, log_server, app_guid):
    post_lines(log_server, "dea", [line(app_guid, "\x1b[2J\x1b[31mgotcha\rover")])
    out = cf.ok("logs", "talker", "--recent")
    assert "\x1b" not in out and "\r" not in out
    assert out.rstrip("\n").endswith("[APP/0] OUT \\x1b[2J\\x1b[31mgotcha\\x0dover")


@pytest.mark.parametrize("log_server", [{"reauthorize_interval": 1}], indirect=True)
def test_a_stream_ends_once_the_cloud_controller_stops_accepting_it(cf, log_server, app_guid, logs_cc, admin):
    follower = cf.follow("logs", "talker")
    try:
        assert Lines(follower).next() == "Connected, tailing logs for app talker..."
        wait_until(lambda: json.loads(httpx.get(log_server.url + "/varz", auth=log_server.sender_auth("dea")).text)
                   ["followers"] == 1, message="the follower to join")
        httpx.delete(logs_cc.url + f"/v2/apps/{app_guid}", headers=admin).raise_for_status()
        assert follower.wait(10) == 1
        assert "The log server ended the stream" in follower.stderr.read()
    finally:
        if follower.poll() is None:
            end_process(follower)


def test_idle_connections_beyond_the_bound_are_closed_at_once(tmp_path, logs_cc):
    import socket
    server = start_log_server(tmp_path / "bounded", logs_cc.url, max_followers=1, max_senders=1)

    def held_connection() -> socket.socket:
        """An idle connection the server keeps (it waits for a request on it). The slot of the
        start-up probe's connection is given back by its thread a moment after its answer,
        so one opened meanwhile may be refused: then open another."""
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.settimeout(1.0)
            try:
                refused = sock.recv(1) == b""
            except TimeoutError:
                sock.settimeout(5)
                return sock
            sock.close()
            assert refused
        raise AssertionError("the server never kept an idle connection")

    try:
        idle = [held_connection() for _ in range(2)]
        try:
            extra = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            assert extra.recv(1) == b""                       # closed without a thread
            extra.close()
        finally:
            for sock in idle:
                sock.close()
        counters = wait_until(lambda: post_lines(server, "dea", []).status_code == 200 and httpx.get(
            server.url + "/varz", auth=server.sender_auth("dea")).json(), message="the server to serve again")
        assert counters["connections_refused"] >= 1
    finally:
        end_process(server.proc)
