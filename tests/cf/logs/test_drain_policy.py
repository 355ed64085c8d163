"""Syslog drains may not reach the platform (SSRF): the real log server process refuses a
drain whose host is, or resolves to, a blocked address (loopback, link-local, the operator's
ranges), logs it once, counts it in /varz and drops its lines, while an allowed drain keeps
getting them. Loopback is blocked by default, so the allowed receiver listens on 127.0.0.2
and the test's config exempts exactly that address (``drain_allowed_ranges``)."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from tests.cf.cc.plumbing import end_process, vm_python
from tests.harness import free_port, wait_until

from .log_server_support import (
    LogServerProcess,
    SyslogReceiver,
    post_lines,
    start_log_server,
)

SECRET_LINE = "app line with a token tkn-Zq81"
STATUS = ("ls-status", "ls-status-pw-3f")


def _line(app: str, message: str) -> dict:
    return {"app": app, "source": "APP", "index": 0, "stream": "OUT", "timestamp": time.time(), "message": message}


def _varz(server: LogServerProcess) -> dict:
    r = httpx.get(server.url + "/varz", auth=server.sender_auth("dea"), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def allowed():
    receiver = SyslogReceiver("127.0.0.2")
    yield receiver
    receiver.close()


@pytest.fixture
def blocked():
    receiver = SyslogReceiver("127.0.0.1")
    yield receiver
    receiver.close()


def test_a_drain_to_loopback_is_refused_and_counted_while_an_allowed_one_gets_lines(tmp_path, allowed, blocked):
    status_port = free_port()
    server = start_log_server(tmp_path / "ls", "http://127.0.0.1:9", drains={"app-1": [blocked.url, allowed.url]},
                              drain_allowed_ranges=["127.0.0.2/32"],
                              status={"listen_address": "127.0.0.1", "port": status_port,
                                      "user": STATUS[0], "password": STATUS[1]})
    try:
        for n in range(3):
            assert post_lines(server, "dea", [_line("app-1", f"{SECRET_LINE} {n}")]).status_code == 200
            allowed.wait_for(f"{SECRET_LINE} {n}")
        wait_until(lambda: _varz(server)["syslog_drains"]["refused_lines"] == 3, timeout=10,
                   message="the refused drain's lines to be counted as dropped")
        drains = _varz(server)
        assert drains["syslog_drains_refused"] == 1                 # one refusal, not one per line
        assert drains["syslog_drains"]["refused_now"] == 1 and drains["syslog_drains"]["sent"] == 3
        assert drains["syslog_drains"]["dropped"] == 3
        status = httpx.get(f"http://127.0.0.1:{status_port}/varz", auth=STATUS, timeout=10).json()
        assert status["syslog_drains_refused"] == 1 and status["syslog_drains"]["refused_lines"] == 3
        assert blocked.accepted == 0 and blocked.messages == []     # never connected to
        log = server.log()
        refusals = [text for text in log.splitlines() if "refused:" in text]
        assert len(refusals) == 1, log
        assert f"127.0.0.1:{blocked.port}" in refusals[0] and "127.0.0.0/8" in refusals[0]
        assert "tkn-Zq81" not in log                                # the app's lines stay out of the log
    finally:
        end_process(server.proc)


def test_a_hostname_resolving_to_a_blocked_address_is_refused(tmp_path, blocked):
    """``localhost`` passes the CC (it checks only literals) and is judged by the log server on
    what it resolves to; one blocked answer is enough."""
    url = f"syslog://localhost:{blocked.port}"
    server = start_log_server(tmp_path / "ls", "http://127.0.0.1:9", drains={"app-1": [url]})
    try:
        assert post_lines(server, "dea", [_line("app-1", SECRET_LINE)]).status_code == 200
        wait_until(lambda: _varz(server)["syslog_drains_refused"] == 1, timeout=10, message="the drain to be refused")
        assert blocked.accepted == 0
        assert f"syslog drain localhost:{blocked.port} refused: localhost resolves to 127.0.0.1" in server.log()
    finally:
        end_process(server.proc)


def test_the_operators_blocked_ranges_are_refused_too(tmp_path, allowed):
    """An exemption for 127.0.0.2 removed again by nothing: a blocked range that covers an
    otherwise allowed address (here as a range a-b, loggregator's form) refuses it."""
    server = start_log_server(tmp_path / "ls", "http://127.0.0.1:9", drains={"app-1": [allowed.url]},
                              drain_blocked_ranges=["10.0.0.0/8", "127.0.0.1-127.0.0.3"],
                              drain_allowed_ranges=["127.0.0.5/32"])
    try:
        assert post_lines(server, "dea", [_line("app-1", SECRET_LINE)]).status_code == 200
        wait_until(lambda: _varz(server)["syslog_drains_refused"] == 1, timeout=10, message="the drain to be refused")
        assert allowed.accepted == 0
        assert "127.0.0.2 is in the blocked range 127.0.0.1-127.0.0.3" in server.log()
    finally:
        end_process(server.proc)


@pytest.mark.parametrize("settings, message", [
    ({"drain_blocked_ranges": ["10.0.0.0/33"]},
     "'drain_blocked_ranges[0]': '10.0.0.0/33' is not a CIDR, an address or a range"),
    ({"drain_blocked_ranges": "10.0.0.0/8"}, "'drain_blocked_ranges' must be a list"),
    ({"drain_blocked_ranges": ["10.0.0.0/8", "10.0.0.9-10.0.0.2"]},
     "'drain_blocked_ranges[1]': '10.0.0.9-10.0.0.2': the range ends before it starts"),
    ({"drain_allowed_ranges": ["127.0.0.2/8"]}, "'drain_allowed_ranges[0]': '127.0.0.2/8' is not a CIDR"),
    ({"drain_allowed_ranges": [7]}, "'drain_allowed_ranges[0]': expected a CIDR"),
])
def test_bad_drain_ranges_are_refused_at_start_naming_the_key(tmp_path, settings, message):
    python, env = vm_python(tmp_path)
    path = tmp_path / "log_server.json"
    path.write_text(json.dumps({"cloud_controller": {"url": "http://127.0.0.1:9"},
                                "senders": {"dea": {"password": "p", "sources": ["APP"]}}, **settings}))
    result = subprocess.run([*python, "-m", "cf_platform.log_server", "--config", str(path)], capture_output=True,
                            check=False, text=True, env=env, timeout=30)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    key = next(iter(settings)).removeprefix("drain_")
    assert f"log_server.drains.{key}" in result.stderr          # the job property the operator sets
