"""The health manager's evacuation rules (dea_ng's drain, hm9000's EVACUATING handling), with
a hand-driven clock: an evacuating instance's index is started elsewhere at once, and the
evacuating instance is stopped only once a replacement of the same index is RUNNING."""

from __future__ import annotations

from tests.cf.hm.test_decisions import app, hb, starts, state_with, stops

from cf_platform.health_manager.decisions import StartRequest, StopRequest


def test_an_evacuating_instance_is_replaced_at_once_and_stopped_once_the_replacement_runs():
    s = state_with([app(instances=2)])
    s.observe_heartbeat(hb(("a", 0), ("b", 1)), 0)
    assert s.decide(0) == []
    s.observe_heartbeat(hb(("a", 0), ("b", 1, "EVACUATING")), 1)
    # no grace period: the index is started elsewhere at the next decision
    assert s.decide(1) == [StartRequest("app-1", "v1", (1,))]
    assert s.decide(2) == []                      # asked once
    # the replacement is starting: the evacuating one still serves and is kept
    s.observe_heartbeat(hb(("a", 0), ("b", 1, "EVACUATING")), 3)
    s.observe_heartbeat(hb(("c", 1, "STARTING"), dea="dea-2"), 3)
    assert s.decide(3) == []
    # the replacement runs (its routes are registered): now the evacuating one goes, at once
    s.observe_heartbeat(hb(("c", 1, "RUNNING"), dea="dea-2"), 4)
    assert s.decide(4) == [StopRequest("app-1", ("b",))]
    assert s.decide(5) == []                      # asked once per grace period
    # and the running replacement is never taken for an extra, while "b" lingers or after it left
    for t in range(6, 60, 5):
        s.set_desired([app(instances=2)], t)
        s.observe_heartbeat(hb(("a", 0), ("b", 1, "EVACUATING")) if t < 30 else hb(("a", 0)), t)
        s.observe_heartbeat(hb(("c", 1), dea="dea-2"), t)
        assert all("c" not in a.instances for a in stops(s.decide(t))), t
        assert starts(s.decide(t)) == [], t


def test_an_evacuating_instance_is_not_stopped_while_its_index_only_runs_an_old_version():
    s = state_with([app(instances=1, version="v2")])
    s.observe_heartbeat(hb(("b", 0, "EVACUATING", "v2")), 0)
    s.observe_heartbeat(hb(("old", 0, "RUNNING", "v1"), dea="dea-2"), 0)
    assert starts(s.decide(0)) == [StartRequest("app-1", "v2", (0,))]
    assert "b" not in [i for a in stops(s.decide(1)) for i in a.instances]


def test_dea_shutdown_marks_that_deas_instances_evacuating_before_its_next_heartbeat():
    s = state_with([app(instances=2)])
    s.observe_heartbeat(hb(("a", 0)), 0)
    s.observe_heartbeat(hb(("b", 1), dea="dea-2"), 0)
    s.observe_shutdown({"id": "dea-1", "ip": "10.0.0.1"}, 1)
    assert s.decide(1) == [StartRequest("app-1", "v1", (0,))]
    # a RUNNING heartbeat the DEA sent before its dea.shutdown does not undo it
    s.observe_heartbeat(hb(("a", 0)), 2)
    assert s.instances["a"].state == "EVACUATING"
    assert s.decide(2) == []


def test_an_evacuating_instance_of_a_stopped_app_is_stopped_after_the_grace_like_any_extra():
    s = state_with([app(instances=1, state="STOPPED")])
    s.observe_heartbeat(hb(("b", 0, "EVACUATING")), 0)
    assert s.decide(0) == []
    s.observe_heartbeat(hb(("b", 0, "EVACUATING")), 30)
    s.set_desired([app(instances=1, state="STOPPED")], 30)
    assert s.decide(30) == [StopRequest("app-1", ("b",))]


def test_an_evacuated_instance_that_exits_with_dea_evacuation_is_restarted_at_once():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("b", 0)), 0)
    s.observe_exited({"droplet": "app-1", "version": "v1", "instance": "b", "index": 0,
                      "reason": "DEA_EVACUATION"}, 1)
    assert s.decide(1) == [StartRequest("app-1", "v1", (0,))]
