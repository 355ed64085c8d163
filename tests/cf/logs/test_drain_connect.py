"""connect_checked and a Drain's reconnects, in process, against real TCP receivers: every
address a name resolves to is checked, and a reconnect resolves again (DNS rebinding). The
resolver's answers are the one thing scripted here (``socket.getaddrinfo``): a real DNS
server that changes its answer is what a hostile drain owner would run."""

from __future__ import annotations

import socket
import time

import pytest
from cf_platform.log_server import syslog_drain
from cf_platform.log_server.drain_policy import DrainPolicy, parse_range
from cf_platform.log_server.log_line import LogLine
from cf_platform.log_server.syslog_drain import Drain, DrainRefused, connect_checked

from tests.harness import wait_until

from .log_server_support import SyslogReceiver

POLICY = DrainPolicy(allowed=(parse_range("127.0.0.2/32"),))


@pytest.fixture
def receivers():
    allowed, blocked = SyslogReceiver("127.0.0.2"), SyslogReceiver("127.0.0.1")
    yield allowed, blocked
    allowed.close()
    blocked.close()


def _answers(monkeypatch, *answers: list[str]) -> list[str]:
    """The resolver answers ``answers[0]``, then ``answers[1]``, ... (the last one for ever)."""
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        ips = answers[min(len(asked), len(answers) - 1)]
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port)) for ip in ips]
    monkeypatch.setattr(syslog_drain.socket, "getaddrinfo", getaddrinfo)
    return asked


def test_one_blocked_address_among_the_answers_refuses_the_name(monkeypatch, receivers):
    allowed, blocked = receivers
    _answers(monkeypatch, ["127.0.0.2", "127.0.0.1"])      # the allowed one first: still refused
    with pytest.raises(DrainRefused, match=r"drain\.example resolves to 127\.0\.0\.1: .*127\.0\.0\.0/8"):
        connect_checked("drain.example", allowed.port, POLICY, 2.0)
    assert allowed.accepted == 0 and blocked.accepted == 0


def test_a_reconnect_resolves_again_and_a_rebound_name_is_refused(monkeypatch, receivers):
    allowed, blocked = receivers
    asked = _answers(monkeypatch, ["127.0.0.2"], ["127.0.0.1"])
    drain = Drain(f"syslog://drain.example:{allowed.port}", policy=POLICY, refused_recheck=0.2)
    try:
        drain.offer(LogLine("app-1", "APP", 0, "OUT", time.time(), "first"))
        allowed.wait_for("first")
        assert asked == ["drain.example"] and drain.sent == 1
        allowed.close()                                     # the connection ends: the drain reconnects
        n = 0

        def refused() -> bool:
            nonlocal n
            n += 1
            drain.offer(LogLine("app-1", "APP", 0, "OUT", time.time(), f"later {n}"))
            return drain.refused
        wait_until(refused, timeout=15, interval=0.1, message="the rebound name to be refused")
        assert len(asked) >= 2 and drain.refusals == 1
        assert blocked.accepted == 0                        # 127.0.0.1 was never connected to
        wait_until(lambda: drain.refused_lines >= 1, timeout=5, message="lines dropped while refused")
    finally:
        drain.close()
