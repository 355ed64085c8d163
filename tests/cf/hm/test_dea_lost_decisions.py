"""A DEA that falls silent as a whole (its VM killed) has its instances started elsewhere
after a few of its own heartbeat intervals, not after two 30 s grace periods; and never on
weak evidence: the HM's own bus down or just back, every DEA silent at once, more than
half of them silent, or a DEA that announced its evacuation. Hand-driven clock."""

from __future__ import annotations

import json

import pytest

from cf_platform.health_manager.config import ConfigError, parse_config
from cf_platform.health_manager.dea_liveness import DeaLost
from cf_platform.health_manager.decisions import HealthState, Policy, StartRequest, StopRequest
from cf_platform.health_manager.messages import parse_heartbeat
from cf_platform.messages import MessageError

from tests.cf.cc.test_jobs import CC_PROPS, instance, job, link_from_provider, nats_link, render_instance_jobs
from tests.cf.hm.test_decisions import app, starts, stops

POLICY = Policy(heartbeat_interval=10, missing_after=3, dea_lost_after=3)   # the job's defaults


def beat(dea: str, *instances: tuple[str, int], interval: float | None = 2.0, state: str = "RUNNING") -> dict:
    message: dict = {"dea": dea, "droplets": [{"droplet": "app-1", "version": "v1", "instance": iid, "index": index,
                                               "state": state, "state_timestamp": 0} for iid, index in instances]}
    if interval is not None:
        message["interval"] = interval
    return message


def two_deas(instances: int = 3) -> HealthState:
    """dea-1 runs indices 0 and 1, dea-2 index 2, both heartbeating every 2 s up to t=10."""
    s = HealthState(POLICY)
    s.set_desired([app(instances=instances)], 0)
    for t in range(0, 11, 2):
        s.observe_heartbeat(beat("dea-1", ("a", 0), ("b", 1)), t)
        s.observe_heartbeat(beat("dea-2", ("c", 2)), t)
        s.set_desired([app(instances=instances)], t)
        assert s.decide(t) == [], t
    return s


def survivor_beats(s: HealthState, until: float, start: float = 12) -> None:
    t = start
    while t <= until:
        s.observe_heartbeat(beat("dea-2", ("c", 2)), t)
        s.set_desired([app(instances=3)], t)
        t += 2


def test_a_silent_dea_is_lost_after_three_of_its_intervals_and_its_indices_start_at_once():
    s = two_deas()
    survivor_beats(s, 16)                  # dea-1 last heard at t=10
    assert s.decide(16) == []              # 6 s of silence: not yet more than 3 intervals
    survivor_beats(s, 16.5, start=16.5)
    actions = s.decide(16.5)
    assert actions == [DeaLost("dea-1", 6.5), StartRequest("app-1", "v1", (0, 1))]
    assert set(s.instances) == {"c"}
    assert s.decide(17) == []              # asked once
    # the replacements land on dea-2: nothing more to do, nothing stopped
    for t in range(18, 80, 2):
        s.observe_heartbeat(beat("dea-2", ("c", 2), ("a2", 0), ("b2", 1)), t)
        s.set_desired([app(instances=3)], t)
        assert s.decide(t) == [], t


def test_a_dea_that_does_not_say_its_interval_gets_the_default_one():
    s = HealthState(POLICY)
    s.set_desired([app(instances=2)], 0)
    s.observe_heartbeat(beat("dea-1", ("a", 0), interval=None), 0)
    for t in range(0, 31, 2):
        s.observe_heartbeat(beat("dea-2", ("c", 1)), t)
        s.set_desired([app(instances=2)], t)
        assert not [a for a in s.decide(t) if isinstance(a, DeaLost)], t
    s.observe_heartbeat(beat("dea-2", ("c", 1)), 31)
    assert DeaLost("dea-1", 31) in s.decide(31)       # 3 × the HM's heartbeat_interval (10 s)


def test_every_dea_silent_at_once_is_not_a_lost_dea():
    """The bus (or the HM) stalled, or everything died: no DEA is judged lost; only the slow
    per-instance path (two grace periods) is left."""
    s = two_deas()
    for t in (12, 16, 20, 30):
        s.set_desired([app(instances=3)], t)
        assert s.decide(t) == [], t
    s.set_desired([app(instances=3)], 41)
    assert s.decide(41) == []              # the instances expire only now (30 s grace)
    s.set_desired([app(instances=3)], 71)
    assert starts(s.decide(71)) == [StartRequest("app-1", "v1", (0, 1, 2))]


def test_more_than_half_of_the_deas_silent_is_a_meltdown_not_a_lost_dea():
    s = HealthState(POLICY)
    s.set_desired([app(instances=4)], 0)
    for t in range(0, 11, 2):
        for n in range(4):
            s.observe_heartbeat(beat(f"dea-{n}", (f"i{n}", n)), t)
        s.set_desired([app(instances=4)], t)
        s.decide(t)
    for t in range(12, 25, 2):        # only dea-0 keeps heartbeating: 3 of 4 silent
        s.observe_heartbeat(beat("dea-0", ("i0", 0)), t)
        s.set_desired([app(instances=4)], t)
        assert s.decide(t) == [], t


def test_nothing_is_decided_while_the_hms_bus_is_down_and_every_clock_restarts_when_it_is_back():
    s = two_deas()
    s.observe_bus_disconnected()
    for t in range(12, 100, 2):            # a long NATS outage: heartbeats cannot arrive
        s.set_desired([app(instances=3)], t)   # (the CC still answers over HTTP)
        assert s.decide(t) == [], t        # (without the rule: every index restarted at t=72)
    s.observe_bus_connected(100)
    s.set_desired([app(instances=3)], 100)
    assert s.decide(100) == []
    # the DEAs reconnect a few seconds after the HM and heartbeat again: no loss, no start
    for t in (103, 105, 107, 109, 111, 140):
        s.observe_heartbeat(beat("dea-1", ("a", 0), ("b", 1)), t)
        s.observe_heartbeat(beat("dea-2", ("c", 2)), t)
        s.set_desired([app(instances=3)], t)
        assert s.decide(t) == [], t


def test_a_dea_that_does_not_come_back_after_a_bus_blip_is_lost_a_full_threshold_after_the_reconnection():
    s = two_deas()
    s.observe_bus_disconnected()
    s.observe_bus_connected(14)
    for t in (15, 17, 19):
        s.observe_heartbeat(beat("dea-2", ("c", 2)), t)
        s.set_desired([app(instances=3)], t)
        assert s.decide(t) == [], t
    s.observe_heartbeat(beat("dea-2", ("c", 2)), 20.5)
    assert s.decide(20.5)[0] == DeaLost("dea-1", 6.5)


def test_an_evacuating_dea_going_quiet_is_not_lost():
    s = two_deas()
    s.observe_shutdown({"id": "dea-1"}, 11)
    assert starts(s.decide(11)) == [StartRequest("app-1", "v1", (0, 1))]
    for t in range(12, 40, 2):
        s.observe_heartbeat(beat("dea-2", ("c", 2), ("a2", 0), ("b2", 1)), t)
        s.set_desired([app(instances=3)], t)
        actions = s.decide(t)
        assert not [a for a in actions if isinstance(a, DeaLost)] and not starts(actions), (t, actions)


def test_a_slow_dea_coming_back_makes_duplicates_that_are_stopped_after_the_grace():
    s = two_deas()
    survivor_beats(s, 17)
    assert starts(s.decide(17)) == [StartRequest("app-1", "v1", (0, 1))]
    # the replacements run on dea-2; then dea-1, only slow, heartbeats again with its instances
    for t in range(18, 50):
        s.observe_heartbeat(beat("dea-2", ("c", 2), ("a2", 0), ("b2", 1)), t)
        if t >= 19:
            s.observe_heartbeat(beat("dea-1", ("a", 0), ("b", 1)), t)
        s.set_desired([app(instances=3)], t)
        actions = s.decide(t)
        assert not starts(actions), (t, actions)
        if stops(actions):
            break
    assert stops(actions) == [StopRequest("app-1", ("a", "b"))]     # the later-seen duplicates
    assert t - 19 == POLICY.grace
    assert "dea-1" in s.deas.deas and not s.deas.deas["dea-1"].lost


def test_dea_lost_after_is_read_from_the_config_and_below_two_intervals_is_refused():
    base = {"nats": {"servers": ["nats://127.0.0.1:4222"]}, "cc": {"url": "http://127.0.0.1:9022", "user": "u",
                                                                    "password": "p"}}
    assert parse_config(base).policy.dea_lost_after == 3
    assert parse_config({**base, "dea_lost_after": 4}).policy.dea_lost_after == 4
    with pytest.raises(ConfigError, match="'dea_lost_after' must be at least 2"):
        parse_config({**base, "dea_lost_after": 1})


def test_the_heartbeat_interval_a_dea_says_is_checked():
    assert parse_heartbeat(beat("dea-1", ("a", 0)))["interval"] == 2.0
    assert parse_heartbeat(beat("dea-1", interval=None))["interval"] is None
    for bad in (0, -1, "2", 1e9):
        with pytest.raises(MessageError, match="'interval'"):
            parse_heartbeat(beat("dea-1", interval=bad))


def test_the_job_renders_dea_lost_after_and_its_default():
    cc_link = link_from_provider(job("cloud_controller", CC_PROPS).spec, CC_PROPS, "cloud_controller",
                                 [{"name": "cloud_controller", "id": "c0", "index": 0, "address": "10.244.0.5"}])

    def rendered_policy(props: dict) -> Policy:
        files = render_instance_jobs([job("health_manager", props)], instance("health_manager", "10.244.0.6"),
                                     {"health_manager": {"nats": nats_link(), "cloud_controller": cc_link}})
        return parse_config(json.loads(files.files["health_manager"]["config/health_manager.json"])).policy

    assert rendered_policy({}).dea_lost_after == 3 and rendered_policy({}).grace == 30
    assert rendered_policy({"hm": {"dea_lost_after": 5}}).dea_lost_after == 5


def test_deas_silent_for_long_are_forgotten_even_in_a_meltdown():
    """Ids heard once (forged with DEA credentials, or DEAs scaled away) do not pile up."""
    s = HealthState(POLICY)
    s.set_desired([app(instances=1)], 0)
    for n in range(50):
        s.observe_heartbeat(beat(f"ghost-{n}"), 0)
    s.observe_heartbeat(beat("dea-1", ("a", 0)), 0)
    assert s.decide(10) == []              # all silent: a meltdown, nothing judged
    for t in range(20, 620, 20):
        s.observe_heartbeat(beat("dea-1", ("a", 0)), t)
        s.set_desired([app(instances=1)], t)
        s.decide(t)
    s.observe_heartbeat(beat("dea-1", ("a", 0)), 620)
    s.decide(620)
    assert set(s.deas.deas) == {"dea-1"}
