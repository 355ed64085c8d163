"""The config applier with Debian's real ``nginx -t``: a route nginx refuses is dropped and
every other change still applied; a fault that is no route's drops nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cf_platform.router.nginx import ConfigApplier, NginxError, NginxProcess

from .helpers import find_nginx


def _render(table: dict[str, str], broken: bool = False) -> str:
    lines = ["daemon off;", "pid nginx.pid;", "error_log stderr;", "events {}", "http {",
             "  access_log off;"]
    for key, value in table.items():
        lines.append(f"  {value}  # {key}")
    if broken:
        lines.append("  no_such_directive on;")
    return "\n".join(lines + ["}"]) + "\n"


@pytest.fixture
def nginx(tmp_path: Path) -> NginxProcess:
    binary = find_nginx()
    if binary is None:
        pytest.fail("nginx is not installed on the host (scripts/setup installs it)")
    return NginxProcess(binary, tmp_path / "nginx.conf", tmp_path)


def test_a_refused_route_is_dropped_and_the_others_applied(nginx):
    table = {"a": "keepalive_timeout 5s;", "b": "send_timeout 6s;"}
    dropped: list[str] = []
    applier = ConfigApplier(nginx, lambda: dict(table), _render,
                            drop=lambda key: (dropped.append(key), table.pop(key)))
    applier.write_initial()
    table.update({"c": "keepalive_requests 7;", "evil": "server_name x\n/x;", "d": "tcp_nodelay on;"})
    assert asyncio.run(applier.apply()) is True
    assert dropped == ["evil"]
    assert set(applier.accepted) == {"a", "b", "c", "d"}
    conf = nginx.conf_path.read_text()
    assert "keepalive_requests 7;" in conf and "tcp_nodelay on;" in conf and "evil" not in conf
    # and the next change is applied as usual
    table["e"] = "sendfile on;"
    assert asyncio.run(applier.apply()) is True
    assert "sendfile on;" in nginx.conf_path.read_text()


def test_a_fault_that_is_no_routes_drops_nothing(nginx):
    table = {"a": "keepalive_timeout 5s;"}
    broken = {"now": False}
    dropped: list[str] = []
    applier = ConfigApplier(nginx, lambda: dict(table), lambda t: _render(t, broken["now"]),
                            drop=dropped.append)
    applier.write_initial()
    before = nginx.conf_path.read_text()
    broken["now"] = True
    table["b"] = "tcp_nodelay on;"
    with pytest.raises(NginxError):
        asyncio.run(applier.apply())
    assert dropped == [] and nginx.conf_path.read_text() == before
