"""Fuzz the real DEA (a process, as root, with its cgroups) over a real nats-server:
hypothesis-generated malformed payloads on every subject it reads, with one app running; it
must still answer dea.discover, heartbeat and advertise, pass nothing it was fed on to the
routers, and not be pushed into a loop (a router.start with a tiny register interval used to
make it re-register its routes about a thousand times a second).

Templates point only at 127.0.0.1:1 (nothing listens), so even a message that happens to be
valid fetches nothing from anywhere."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cf.cc.malformed import malformed, publish_raw
from tests.cf.dea.conftest import *  # noqa: F401,F403 - the DEA tests' fixtures, all they need
from tests.cf.dea.helpers import HELLO_APP, make_zip
from tests.harness import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the DEA's containers need root")
NOWHERE = "http://internal:secret@127.0.0.1:1/internal/apps/fuzz"


def _templates(dea_id: str) -> dict[str, dict]:
    start = {"droplet": "fuzz-app", "name": "fuzz", "uris": ["fuzz.bosh-py.local"], "version": "v1", "index": 0,
             "sha1": "0" * 40, "droplet_uri": NOWHERE + "/droplet", "limits": {"mem": 64, "disk": 64, "fds": 64},
             "env": ["A=b"], "start_command": "python3 app.py", "services": []}
    return {
        "dea.discover": {"droplet": "fuzz-app", "name": "fuzz", "runtime": "python", "sha1": None,
                         "limits": {"mem": 64, "disk": 64}},
        f"staging.{dea_id}.start": {"app_id": "fuzz-app", "name": "fuzz", "bits_uri": NOWHERE + "/bits",
                                    "droplet_upload_uri": NOWHERE + "/droplet", "buildpack": None,
                                    "limits": {"mem": 64, "disk": 64}},
        f"dea.{dea_id}.start": start,
        "dea.stop": {"droplet": "fuzz-app", "version": "v1", "instances": ["x"], "indices": [0]},
        "dea.find.droplet": {"droplet": "fuzz-app", "version": "v1", "indices": [0], "states": ["RUNNING"],
                             "include_stats": True, "include_logs": True},
        "dea.update": {"droplet": "fuzz-app", "uris": ["fuzz.bosh-py.local"]},
        "dea.locate": {},
        "router.start": {"id": "fuzz-router", "hosts": ["127.0.0.1"], "minimumRegisterIntervalInSeconds": 20,
                         "pruneThresholdInSeconds": 120},
    }


def _assert_serving(watcher, dea) -> None:  # noqa: F811
    since = time.monotonic()
    answers = watcher.gather("dea.discover", {"droplet": "after-fuzz", "limits": {"mem": 64}}, 1.0)
    assert [reply["id"] for reply, _ in answers] == [dea.id]
    watcher.wait_for("dea.heartbeat", lambda m: m["dea"] == dea.id, timeout=10, since=since)
    watcher.wait_for("dea.advertise", lambda m: m["id"] == dea.id, timeout=10, since=since)
    assert dea.process.poll() is None


@pytest.fixture(scope="module")
def running(watcher, dea, fake_cc):  # noqa: F811
    """One staged and RUNNING hello app (its routes are what a broken message could abuse)."""
    guid = uuid.uuid4().hex
    fake_cc.bits[guid] = make_zip({"app.py": HELLO_APP})
    staged = watcher.request(f"staging.{dea.id}.start", {
        "app_id": guid, "name": "fuzzed", "bits_uri": fake_cc.url(guid, "bits"),
        "droplet_upload_uri": fake_cc.url(guid, "droplet"), "buildpack": None, "limits": {"mem": 128}}, 60)
    assert "error" not in staged, staged
    since = time.monotonic()
    watcher.publish(f"dea.{dea.id}.start", {
        "droplet": guid, "name": "fuzzed", "uris": ["fuzzed.test"], "version": "v1", "index": 0,
        "sha1": staged["droplet_sha1"], "droplet_uri": fake_cc.url(guid, "droplet"),
        "limits": {"mem": 128, "disk": 256, "fds": 1000}, "env": [], "services": [],
        "start_command": staged["start_command"]})
    watcher.wait_for("router.register", lambda m: m["app"] == guid, timeout=60, since=since)
    yield guid
    watcher.publish("dea.stop", {"droplet": guid})
    watcher.wait_for("router.unregister", lambda m: m["app"] == guid, timeout=30, since=since)


def _registrations(watcher, guid: str, since: float) -> list[dict]:  # noqa: F811
    return [m for m in watcher.on("router.register", since=since) if m.get("app") == guid]


def test_a_tiny_register_interval_does_not_make_the_dea_flood_the_routers(watcher, dea, running):  # noqa: F811
    watcher.publish("router.start", {"id": "evil", "hosts": ["127.0.0.1"],
                                     "minimumRegisterIntervalInSeconds": 1e-9})
    since = time.monotonic()
    time.sleep(2.0)
    count = len(_registrations(watcher, running, since))
    assert count <= 4, f"{count} router.register messages in 2 s"
    _assert_serving(watcher, dea)


def test_a_huge_register_interval_does_not_stop_the_dea_registering(watcher, dea, running):  # noqa: F811
    watcher.publish("router.start", {"id": "evil", "hosts": ["127.0.0.1"],
                                     "minimumRegisterIntervalInSeconds": 1e9})
    time.sleep(0.5)
    since = time.monotonic()
    # the test DEA's own interval is 2 s: it must go on re-registering at that pace
    wait_until(lambda: len(_registrations(watcher, running, since)) >= 2, timeout=8,
               message="the DEA to keep re-registering its routes")


# last: what the fuzzing leaves (a valid long register interval, say) must not confound the tests above
def test_the_dea_keeps_serving_through_malformed_messages(watcher, dea, running):  # noqa: F811
    templates = _templates(dea.id)
    templates["dea.update"] = {"droplet": running, "uris": ["fuzzed.test", "other.test"]}
    templates["dea.find.droplet"]["droplet"] = running
    since = time.monotonic()

    @settings(max_examples=200, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(subject=st.sampled_from(sorted(templates)), data=st.data())
    def publish(subject: str, data: st.DataObject) -> None:
        publish_raw(watcher.loop, watcher.client, subject, data.draw(malformed(templates[subject])))

    publish()
    _assert_serving(watcher, dea)
    # what the DEA passed on to the routers holds nothing it was fed: no control characters
    for message in _registrations(watcher, running, since):
        assert all(isinstance(u, str) and not any(ord(c) < 32 for c in u) for u in message["uris"]), message
    # and nothing made it re-register in a loop
    quiet = time.monotonic()
    time.sleep(2.0)
    assert len(_registrations(watcher, running, quiet)) <= 4
