"""Fuzz the real health manager over a real nats-server: hypothesis-generated malformed
payloads on every subject it reads (dea.heartbeat, droplet.exited). It must keep acting (a
crashed instance is still replaced) and never pass what it was fed on to the cloud
controller: every health.start / health.stop it publishes must be a well-formed request."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cf_platform.cloud_controller.messages import parse_health_start, parse_health_stop
from tests.cf.cc.malformed import malformed, publish_raw
from tests.cf.cc.plumbing import eventually
from tests.cf.conftest import nats_server  # noqa: F401
from tests.cf.hm.conftest import platform  # noqa: F401
from tests.cf.hm.test_health_manager_nats import push
from tests.cf.router.helpers import NatsClient

SUBJECTS = ("dea.heartbeat", "droplet.exited")


def test_the_health_manager_keeps_acting_through_malformed_messages(platform, nats_server):  # noqa: F811
    cc, dea, hm, auth = platform
    guid = push(cc, auth, 1)
    eventually(lambda: len(dea.live(guid)) == 1)
    live = dea.live(guid)[0]
    templates = {
        "dea.heartbeat": {"dea": "fuzz-dea", "droplets": [
            {"droplet": "fuzz-app", "version": "v1", "instance": "fuzz-instance", "index": 0,
             "state": "RUNNING", "state_timestamp": time.time()}]},
        "droplet.exited": {"droplet": "fuzz-app", "version": "v1", "instance": "fuzz-instance", "index": 0,
                           "reason": "CRASHED", "exit_status": 1, "exit_description": "boom",
                           "crash_timestamp": time.time()},
    }
    client = NatsClient(nats_server)
    requests = {"health.start": client.collect("health.start"), "health.stop": client.collect("health.stop")}
    try:
        @settings(max_examples=150, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])
        @given(subject=st.sampled_from(SUBJECTS), data=st.data())
        def publish(subject: str, data: st.DataObject) -> None:
            publish_raw(client._loop, client.client, subject, data.draw(malformed(templates[subject])))

        publish()
        time.sleep(1.0)  # longer than the HM's grace (3 heartbeats of 0.2 s): extras would be acted on
        assert hm.proc.poll() is None, hm.log()[-3000:]
        # still acts: a crash is replaced
        dea.crash(live.instance)
        eventually(lambda: [i for i in dea.live(guid) if i.instance != live.instance], timeout=10)
        for subject, parse in (("health.start", parse_health_start), ("health.stop", parse_health_stop)):
            for message in requests[subject]:
                parse(message)  # raises on anything a DEA could not have caused
    finally:
        client.close()


def test_forged_heartbeat_entries_are_not_passed_on_to_the_cc(platform, nats_server):  # noqa: F811
    """A heartbeat kept up long enough for the HM to act on it, with entries no DEA sends (an id
    with a newline, a boolean index, an unknown state): the HM must drop it, not ask the CC to
    stop "instances" whose ids the sender made up."""
    cc, dea, hm, auth = platform
    client = NatsClient(nats_server)
    stops = client.collect("health.stop")
    forged = {"dea": "fuzz-dea", "droplets": [
        {"droplet": "ghost\napp", "version": "v1", "instance": "i\n}", "index": 0, "state": "RUNNING"},
        {"droplet": "ghost-app", "version": "v1", "instance": "bool-index", "index": True, "state": "RUNNING"},
        {"droplet": "ghost-app", "version": "v1", "instance": "odd-state", "index": 0, "state": "DANCING"}]}
    try:
        deadline = time.monotonic() + 2.0      # > the HM's grace of 0.6 s
        while time.monotonic() < deadline:
            client.publish("dea.heartbeat", forged)
            time.sleep(0.1)
        time.sleep(0.5)
        assert stops == [], stops
        assert hm.proc.poll() is None
        assert "dropping a dea.heartbeat message" in hm.log()
    finally:
        client.close()
