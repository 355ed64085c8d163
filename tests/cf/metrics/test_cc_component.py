"""The cloud controller's CF v1 status port (/healthz, /varz) and its announcement, with
the CC as its job runs it (``python3 -S -m cf_platform.cloud_controller``) on a real
nats-server."""

from __future__ import annotations

import json

import httpx
import nats.errors

from tests.cf.cc.plumbing import end_process, login, start_cc
from tests.cf.metrics.scrape_support import http_get
from tests.harness import free_port, wait_until

STATUS_USER, STATUS_PASSWORD = "cc-status", "cc-status-secret-93"


def test_cc_status_port_announce_and_varz_counters(tmp_path, nats_server, nats_client):
    announced = nats_client.collect("vcap.component.announce")
    status_port = free_port()
    cc = start_cc(tmp_path / "cc", nats_server, index=2,
                  status={"listen_address": "127.0.0.1", "port": status_port, "user": STATUS_USER,
                          "password": STATUS_PASSWORD})
    try:
        wait_until(lambda: any(m.get("type") == "CloudController" for m in announced),
                   message="the CC's vcap.component.announce")
        message = next(m for m in announced if m.get("type") == "CloudController")
        assert message["index"] == 2 and message["host"] == f"127.0.0.1:{status_port}"
        assert message["credentials"] == [STATUS_USER, STATUS_PASSWORD]
        discovered = [answer for answer in _discover_all(nats_client) if answer["type"] == "CloudController"]
        assert [answer["uuid"] for answer in discovered] == [message["uuid"]]

        base = f"http://127.0.0.1:{status_port}"
        for path in ("/healthz", "/varz"):
            assert http_get(base + path)[0] == 401, path
            assert http_get(base + path, STATUS_USER, "wrong")[0] == 401, path
        assert http_get(base + "/healthz", STATUS_USER, STATUS_PASSWORD)[::2] == (200, b"ok\n")

        def varz() -> dict:
            status, _, body = http_get(base + "/varz", STATUS_USER, STATUS_PASSWORD)
            assert status == 200, body
            return json.loads(body)
        before = varz()
        assert before["type"] == "CloudController" and before["uuid"] == message["uuid"]
        assert before["apps"] == {"total": 0, "started": 0} and "credentials" not in before

        headers = login(cc)
        assert httpx.post(cc.url + "/v2/apps", json={"name": "counted"}, headers=headers).status_code == 201
        assert httpx.get(cc.url + "/v2/apps/no-such-guid", headers=headers).status_code == 404
        after = varz()
        assert after["apps"] == {"total": 1, "started": 0}
        assert after["requests"] >= before["requests"] + 3
        assert after["responses"]["2xx"] >= before["responses"]["2xx"] + 2
        assert after["responses"]["4xx"] == before["responses"]["4xx"] + 1
        assert STATUS_PASSWORD not in cc.log()
    finally:
        end_process(cc.proc)


def test_cc_without_a_status_section_opens_no_status_port(tmp_path, nats_server, nats_client):
    cc = start_cc(tmp_path / "cc", nats_server)
    try:
        assert not [a for a in _discover_all(nats_client) if a["type"] == "CloudController"]
    finally:
        end_process(cc.proc)


def test_cc_refuses_a_malformed_status_section_naming_it(tmp_path, nats_server):
    import subprocess

    from tests.cf.cc.plumbing import cc_config, vm_python
    workdir = tmp_path / "cc"
    workdir.mkdir()
    config = cc_config(workdir, nats_server, free_port(), status={"port": "8080", "user": "u", "password": "p"})
    (workdir / "cc.json").write_text(json.dumps(config))
    python, env = vm_python(workdir)
    out = subprocess.run([*python, "-m", "cf_platform.cloud_controller", "--config", str(workdir / "cc.json")],
                         capture_output=True, text=True, env=env, timeout=30, check=False)
    assert out.returncode != 0
    assert "status.port: expected int" in out.stdout + out.stderr, out.stdout + out.stderr


def _discover_all(nats_client, wait: float = 0.5) -> list[dict]:
    """Every answer to one vcap.component.discover (as an operator's tool gathers them)."""

    async def go() -> list[dict]:
        client = nats_client.client
        inbox = client.new_inbox()
        subscription = await client.subscribe(inbox)
        await client.publish("vcap.component.discover", b"{}", reply=inbox)
        answers = []
        try:
            while True:
                msg = await subscription.next_msg(timeout=wait)
                if msg.data:  # an empty message is the server's "no responders"
                    answers.append(json.loads(msg.data))
        except nats.errors.TimeoutError:  # the silence ends the gathering
            pass
        await subscription.unsubscribe()
        return answers
    return nats_client._run(go())
