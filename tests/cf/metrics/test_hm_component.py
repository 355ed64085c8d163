"""The health manager's CF v1 status port (/healthz, /varz) and its announcement, with the
HM as its job runs it (``python3 -S -m cf_platform.health_manager``), a real CC and a
heartbeating DEA stand-in on a real nats-server."""

from __future__ import annotations

import json

from tests.cf.cc.plumbing import DeaStandIn, end_process, start_cc, start_hm
from tests.cf.metrics.scrape_support import http_get
from tests.cf.metrics.test_cc_component import _discover_all
from tests.harness import free_port, wait_until

STATUS_USER, STATUS_PASSWORD = "hm-status", "hm-status-secret-31"


def test_hm_status_port_announce_varz_and_health(tmp_path, nats_server, nats_client):
    announced = nats_client.collect("vcap.component.announce")
    status_port = free_port()
    dea = DeaStandIn(nats_server, heartbeat_interval=0.2).start()
    cc = start_cc(tmp_path / "cc", nats_server)
    hm = start_hm(tmp_path / "hm", nats_server, cc, index=1, host="127.0.0.1", desired_stale_after=2,
                  status={"listen_address": "127.0.0.1", "port": status_port, "user": STATUS_USER,
                          "password": STATUS_PASSWORD})
    try:
        wait_until(lambda: any(m.get("type") == "HealthManager" for m in announced),
                   message="the HM's vcap.component.announce")
        message = next(m for m in announced if m.get("type") == "HealthManager")
        assert message["index"] == 1 and message["host"] == f"127.0.0.1:{status_port}"
        assert message["credentials"] == [STATUS_USER, STATUS_PASSWORD]
        assert [a["uuid"] for a in _discover_all(nats_client) if a["type"] == "HealthManager"] == [message["uuid"]]

        base = f"http://127.0.0.1:{status_port}"
        for path in ("/healthz", "/varz"):
            assert http_get(base + path)[0] == 401, path
            assert http_get(base + path, STATUS_USER, "wrong")[0] == 401, path

        def varz() -> dict:
            status, _, body = http_get(base + "/varz", STATUS_USER, STATUS_PASSWORD)
            assert status == 200, body
            return json.loads(body)
        seen = wait_until(lambda: (v := varz())["heartbeats"] >= 3 and v["desired_apps"] == 0 and v,
                          message="heartbeats and the desired state counted in /varz")
        assert seen["type"] == "HealthManager" and seen["deas"] == 1 and "credentials" not in seen
        assert http_get(base + "/healthz", STATUS_USER, STATUS_PASSWORD)[::2] == (200, b"ok\n")

        end_process(cc.proc)  # no desired state any more: the HM decides nothing, and says so
        status, _, body = wait_until(
            lambda: (r := http_get(base + "/healthz", STATUS_USER, STATUS_PASSWORD))[0] == 503 and r,
            message="/healthz 503 once the desired state is stale")
        assert b"no fresh desired state" in body
        assert STATUS_PASSWORD not in hm.log()
    finally:
        end_process(hm.proc)
        end_process(cc.proc)
        dea.stop()
