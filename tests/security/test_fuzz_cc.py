"""Fuzz the real cloud controller over a real nats-server: hypothesis-generated malformed
payloads on every subject it reads (health.start, health.stop, droplet.exited) and as the
DEAs' replies it waits for (dea.discover, dea.find.droplet); it must keep answering HTTP,
act on a valid health.start afterwards, and never turn a bad reply into a 500."""

from __future__ import annotations

import time

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cf.cc.malformed import malformed, publish_raw
from tests.cf.cc.plumbing import eventually, login
from tests.cf.cc.test_lifecycle import app_entity, push
from tests.cf.conftest import cc, dea, nats_server  # noqa: F401
from tests.cf.router.helpers import NatsClient

SUBJECTS = ("health.start", "health.stop", "droplet.exited")
FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def test_the_cc_keeps_serving_through_malformed_messages(cc, dea, nats_server):  # noqa: F811
    auth = login(cc)
    guid = push(cc, auth, instances=2)
    eventually(lambda: len(dea.starts) == 2)
    version = app_entity(cc, auth, guid)["version"]
    live = dea.live(guid)[0]
    templates = {
        "health.start": {"droplet": guid, "version": version, "indices": [0, 1]},
        "health.stop": {"droplet": guid, "instances": ["not-a-live-instance"]},
        "droplet.exited": {"droplet": guid, "version": version, "instance": live.instance, "index": 0,
                           "reason": "CRASHED", "exit_status": 1, "exit_description": "boom",
                           "crash_timestamp": time.time()},
    }
    client = NatsClient(nats_server)
    try:
        @settings(FUZZ, max_examples=150)
        @given(subject=st.sampled_from(SUBJECTS), data=st.data())
        def publish(subject: str, data: st.DataObject) -> None:
            publish_raw(client._loop, client.client, subject, data.draw(malformed(templates[subject])))

        publish()
        assert cc.proc.poll() is None, cc.log()[-3000:]
        assert httpx.get(cc.url + "/v2/info", timeout=5).status_code == 200
        # what the CC recorded from crash notices is only what a DEA could have sent
        crashes = httpx.get(cc.url + f"/v2/apps/{guid}/crashes", headers=auth, timeout=5).json()
        for crash in crashes:
            assert len(crash["exit_description"]) <= 1024, len(crash["exit_description"])
            assert not any(ord(c) < 32 for c in crash["exit_description"]), crash["exit_description"]
            assert type(crash["index"]) is int and 0 <= crash["index"] < 1000, crash["index"]
            assert crash["exit_status"] is None or type(crash["exit_status"]) is int
            assert 0 < crash["since"] <= time.time() + 86400 * 365, crash["since"]
        # the CC still acts on a valid request of the health manager
        for instance in dea.live(guid):
            dea.crash(instance.instance)
        starts = len(dea.starts)
        dea.publish("health.start", {"droplet": guid, "version": version, "indices": [1]})
        eventually(lambda: len(dea.starts) > starts, timeout=10)
        assert dea.starts[-1]["index"] == 1 and dea.starts[-1]["droplet"] == guid
    finally:
        client.close()


def test_malformed_dea_replies_never_become_server_errors(cc, dea, nats_server):  # noqa: F811
    auth = login(cc)
    guid = push(cc, auth, instances=1)
    eventually(lambda: len(dea.live(guid)) == 1)
    live = dea.live(guid)[0]
    template = {"dea": dea.id, "droplet": guid, "version": live.version, "instance": live.instance,
                "index": 0, "state": "RUNNING", "state_timestamp": time.time(), "host": "127.0.0.1",
                "port": live.port, "stats": {"uptime": 1.0, "mem_quota": 1024,
                                             "usage": {"mem": 1, "cpu": 0.5, "disk": 1}}}
    rogue = NatsClient(nats_server)
    current = {"reply": b"{}"}

    async def answer(msg) -> None:
        await rogue.client.publish(msg.reply, current["reply"])

    async def subscribe() -> None:
        await rogue.client.subscribe("dea.find.droplet", cb=answer)
        await rogue.client.flush()
    rogue._run(subscribe())
    try:
        @settings(FUZZ, max_examples=40)
        @given(reply=malformed(template))
        def ask(reply: bytes) -> None:
            current["reply"] = reply
            for path in ("instances", "stats"):
                r = httpx.get(cc.url + f"/v2/apps/{guid}/{path}", headers=auth, timeout=10)
                assert r.status_code == 200, r.text
                assert set(r.json()) == {"0"}

        ask()
        # the real DEA's answer is still the one shown
        instances = httpx.get(cc.url + f"/v2/apps/{guid}/instances", headers=auth).json()
        assert instances["0"]["state"] == "RUNNING" and instances["0"]["instance"] == live.instance
    finally:
        rogue.close()
