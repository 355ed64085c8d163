"""Director alerts on ``hm.director.alert`` (cloud check) reach the webhook plugin, over a
real nats-server with the director's users and permissions and a real HTTP receiver on
127.0.0.1; an agent (or the monitor's read-only user) cannot forge one, and a malformed
message is dropped, never passed on."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets

import nats
import pytest

from bosh_py.director.cck import alerts
from bosh_py.director.cck.problems import Problem
from bosh_py.mbus.server import NatsServer
from bosh_py.mbus.urls import connect_options
from bosh_py.monitor import director_alerts
from bosh_py.monitor.webhook import SIGNATURE_HEADER, WebhookNotifier
from tests.harness import free_port
from tests.monitor.test_webhook import SECRET, Receiver, config

PROBLEM = Problem("missing_vm", "VM vm-1 of web/u-1 is missing", 1, "web/u-1", "vm-1")


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    hm_password = secrets.token_urlsafe(16)
    server = NatsServer(tmp_path_factory.mktemp("nats"), "127.0.0.1", free_port(),
                        director_password=secrets.token_urlsafe(16), hm_user="hm", hm_password=hm_password)
    server.start()
    server.add_agent("agent-1", "agent-pw-1")
    try:
        yield server, hm_password
    finally:
        server.stop()


async def forward(server: NatsServer, receiver: Receiver):  # type: ignore[no-untyped-def]
    """The director's connection, with the monitor's subscription passing alerts to the webhook."""
    director = await nats.connect(**server.director_connect_options())
    notifier = WebhookNotifier(config(receiver.url()))
    await director_alerts.subscribe(director, notifier.notify)
    await director.flush()
    return director, notifier


async def received(receiver: Receiver, count: int, timeout: float = 5.0) -> list[dict]:
    for _ in range(int(timeout / 0.02)):
        if len(receiver.received) >= count:
            break
        await asyncio.sleep(0.02)
    return [json.loads(body) for _headers, body in receiver.received]


def test_a_cloud_check_alert_reaches_the_webhook_signed(bus):
    server, _ = bus

    async def scenario() -> None:
        async with Receiver() as receiver:
            director, notifier = await forward(server, receiver)
            await alerts.publish(director, alerts.problems_alert("bosh-py", "cf", [PROBLEM]))
            await alerts.publish(director, alerts.resolution_alert("bosh-py", "cf", PROBLEM, "recreate_vm", 12))
            got = await received(receiver, 2)
            await notifier.close()
            await director.close()
            assert [(a["action"], a["deployment"], a["source"]) for a in got] == [
                ("cck problems", "cf", "bosh-py"), ("cck resolution", "cf", "bosh-py")]
            assert got[0]["summary"] == "1 problem(s) found: missing_vm web/u-1 (vm-1)"
            assert got[1]["summary"] == "task 12: missing_vm web/u-1 (vm-1) resolved with recreate_vm"
            headers, body = receiver.received[0]
            assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    asyncio.run(scenario())


@pytest.mark.parametrize("who", ["agent", "hm"])
def test_only_the_director_can_publish_director_alerts(bus, who):
    server, hm_password = bus
    url = server.agent_url("agent-1", "agent-pw-1") if who == "agent" else server.url("hm", hm_password)

    async def scenario() -> None:
        async with Receiver() as receiver:
            director, notifier = await forward(server, receiver)
            errors: list[Exception] = []

            async def on_error(error: Exception) -> None:
                errors.append(error)

            forger = await nats.connect(**connect_options(url), error_cb=on_error, allow_reconnect=False)
            forged = alerts.director_alert("bosh-py", "cf", "cck resolution", "forged: all is well", 4)
            await forger.publish(alerts.SUBJECT, json.dumps(forged).encode())
            await forger.flush()
            # the director's own alert, sent after the forged one, arrives alone
            await alerts.publish(director, alerts.problems_alert("bosh-py", "cf", [PROBLEM]))
            got = await received(receiver, 1)
            await asyncio.sleep(0.3)  # anything forged would be here by now
            got = await received(receiver, 1)
            await forger.close()
            await notifier.close()
            await director.close()
            assert [a["action"] for a in got] == ["cck problems"]
            assert any(f'publish to "{alerts.SUBJECT}"' in str(e) for e in errors), errors

    asyncio.run(scenario())


@pytest.mark.parametrize("message, reason", [
    (b"not json", "not JSON"),
    (b"[1]", "expected a JSON object"),
    (json.dumps({"severity": 9, "created_at": 1}).encode(), "severity: expected 1 to 4"),
    (json.dumps({"severity": 2, "created_at": "now"}).encode(), "created_at: expected a Unix time"),
    (json.dumps({"severity": 2, "created_at": 1, "source": "d", "action": "a", "title": "",
                 "summary": "s"}).encode(), "title: expected a non-empty string"),
])
def test_a_malformed_alert_is_refused_naming_why(message, reason):
    with pytest.raises(director_alerts.InvalidAlert, match=reason):
        director_alerts.parse_alert(message)


def test_an_alert_keeps_only_known_fields_and_bounded_text():
    raw = {**alerts.director_alert("bosh-py", "cf", "cck problems", "x" * 5000, 3), "extra": "dropped"}
    parsed = director_alerts.parse_alert(json.dumps(raw).encode())
    assert "extra" not in parsed and len(parsed["summary"]) == director_alerts.MAX_TEXT
    assert parsed["id"] == raw["id"] and parsed["severity"] == 3
