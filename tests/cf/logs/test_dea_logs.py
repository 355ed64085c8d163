"""A real DEA (a process in its own network namespace, real containers: tests/cf/dea) sends
its apps' output, staging output and instance events to the real log server, which forwards
them to a syslog drain; the DEA's status port serves /varz with its counters and is
announced on NATS (root only, like every DEA test)."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from urllib.request import Request, urlopen

import pytest

from tests.cf.cc.plumbing import end_process
from tests.cf.dea.conftest import (  # noqa: F401 - fixtures
    _run_dea,
    dea_config,
    dea_net,
    fake_cc,
    nats_server,
    needs_root,
    watcher,
)
from tests.cf.dea.helpers import HELLO_APP, NatsWatcher, make_zip
from tests.harness import free_port, wait_until

from .log_server_support import SyslogReceiver, start_log_server

pytestmark = [needs_root, pytest.mark.timeout(300)]

GUID = uuid.uuid4().hex
STATUS_PASSWORD = secrets.token_urlsafe(12)
DRAIN_HOST = "127.0.0.2"


@pytest.fixture(scope="module")
def syslog_drain():
    receiver = SyslogReceiver(DRAIN_HOST)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def log_server(tmp_path_factory, dea_net, syslog_drain):  # noqa: F811
    """On the host end of the DEA's link (where a log server VM would be for it); followers
    are not asked for here (no CC), the drain shows what arrived."""
    server = start_log_server(tmp_path_factory.mktemp("log_server"), "http://127.0.0.1:9", free_port(dea_net.host_ip),
                              listen_address=dea_net.host_ip, drains={GUID: [syslog_drain.url]},
                              drain_allowed_ranges=[DRAIN_HOST])   # loopback is blocked but for this one
    yield server
    end_process(server.proc)


@pytest.fixture(scope="module")
def announcements(nats_server):  # noqa: F811
    client = NatsWatcher(nats_server.director_connect_options(), ["vcap.component.announce"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def status_port():
    return free_port()


@pytest.fixture(scope="module")
def logging_dea(tmp_path_factory, nats_server, watcher, dea_net, log_server, announcements, status_port):  # noqa: F811
    base = tmp_path_factory.mktemp("logging-dea")
    config = dea_config(base, nats_server, dea_net, log_server=log_server.emitter_settings("dea"),
                        log_poll_interval=0.1,
                        status={"port": status_port, "user": "dea-status", "password": STATUS_PASSWORD})
    yield from _run_dea(base, config, watcher, dea_net)


def test_app_staging_and_dea_lines_reach_the_log_server_and_the_drain(logging_dea, watcher, fake_cc, syslog_drain,  # noqa: F811 - fixtures
                                                                      log_server):
    fake_cc.bits[GUID] = make_zip({"app.py": HELLO_APP})
    staged = watcher.request(f"staging.{logging_dea.id}.start", {
        "app_id": GUID, "name": "talker", "bits_uri": fake_cc.url(GUID, "bits"),
        "droplet_upload_uri": fake_cc.url(GUID, "droplet"), "buildpack": None, "limits": {"mem": 128}}, 60)
    assert "error" not in staged, staged
    assert "[STG/0] - - -----> Downloading app bits of talker" in syslog_drain.wait_for("Downloading app bits")
    watcher.publish(f"dea.{logging_dea.id}.start", {
        "droplet": GUID, "name": "talker", "uris": [], "version": "v1", "index": 3, "sha1": staged["droplet_sha1"],
        "droplet_uri": fake_cc.url(GUID, "droplet"), "limits": {"mem": 128, "disk": 256, "fds": 1000},
        "env": [], "services": [], "start_command": staged["start_command"]})
    assert "[DEA/3] - - Starting app instance (index 3)" in syslog_drain.wait_for("Starting app instance")
    out = syslog_drain.wait_for("hello app starting, index 3", timeout=30)
    assert out.startswith("<14>1 ") and f" {GUID} [APP/3] - - " in out
    err = syslog_drain.wait_for("a line on stderr")
    assert err.startswith("<11>1 ") and "[APP/3]" in err
    watcher.publish("dea.stop", {"droplet": GUID})
    assert "[DEA/3]" in syslog_drain.wait_for("Stopped app instance (index 3)", timeout=30)
    auth = base64.b64encode(f"dea:{log_server.config['senders']['dea']['password']}".encode()).decode()
    with urlopen(Request(log_server.url + "/varz", headers={"Authorization": f"Basic {auth}"}), timeout=5) as r:
        counters = json.loads(r.read())
    assert counters["lines_received"] >= 6 and counters["batches_refused"] == 0


def test_the_dea_serves_varz_and_announces_itself(logging_dea, dea_net, announcements, status_port):  # noqa: F811
    url = f"http://{dea_net.dea_ip}:{status_port}/varz"
    with pytest.raises(Exception, match="401"):
        urlopen(url, timeout=5)
    auth = base64.b64encode(f"dea-status:{STATUS_PASSWORD}".encode()).decode()
    with urlopen(Request(url, headers={"Authorization": f"Basic {auth}"}), timeout=5) as r:
        varz = json.loads(r.read())
    assert varz["type"] == "DEA" and varz["host"] == f"{dea_net.dea_ip}:{status_port}"
    assert set(varz["instances"]) >= {"RUNNING", "CRASHED"} and varz["available_memory_mb"] <= 1024
    assert varz["log_lines"]["sent"] >= 1 and varz["log_lines"]["dropped"] == 0
    assert STATUS_PASSWORD not in json.dumps(varz)
    announced = wait_until(lambda: [m for m in announcements.on("vcap.component.announce") if m.get("type") == "DEA"],
                           timeout=10)
    assert announced[0]["host"] == f"{dea_net.dea_ip}:{status_port}"
