"""Fixtures: a real cloud controller that names the log server in /v2/info, the real log
server process asking that CC about followers, and cf-py logged in as admin."""

from __future__ import annotations

import pytest

from tests.cf.cc.plumbing import end_process, login
from tests.harness import free_port

from .log_server_support import (
    CfPy,
    SyslogReceiver,
    create_app,
    start_cc_with_logs,
    start_log_server,
)


@pytest.fixture
def log_port():
    return free_port()


@pytest.fixture
def logs_cc(tmp_path, nats_server, log_port):
    process = start_cc_with_logs(tmp_path / "cc", nats_server, log_port)
    yield process
    end_process(process.proc)
    print(process.log()[-3000:])


@pytest.fixture
def syslog():
    receiver = SyslogReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def log_server(request, tmp_path, logs_cc, log_port):
    overrides = getattr(request, "param", None) or {}
    server = start_log_server(tmp_path / "log_server", logs_cc.url, log_port, **overrides)
    yield server
    end_process(server.proc)
    print(server.log()[-5000:])


@pytest.fixture
def admin(logs_cc):
    return login(logs_cc)


@pytest.fixture
def app_guid(logs_cc, admin):
    return create_app(logs_cc, admin, "talker")


@pytest.fixture
def cf(tmp_path, logs_cc):
    home = tmp_path / "home"
    home.mkdir()
    client = CfPy(tmp_path / "cf-py" / "config.json", home)
    client.ok("api", logs_cc.url)
    client.ok("login", "-u", "admin", "-p", "admin-secret")
    return client
