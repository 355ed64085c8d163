"""The health manager's judgement, with a hand-driven clock (no NATS, no sleeping)."""

from __future__ import annotations

from cf_platform.health_manager.decisions import (DesiredApp, HealthState, Policy, StartRequest,
                                                  StopRequest)

POLICY = Policy(heartbeat_interval=10, missing_after=3, immediate_restarts=3, backoff_base=30,
                backoff_max=120, crash_reset_after=600, desired_stale_after=60)


def app(instances=2, state="STARTED", version="v1", package_state="STAGED", guid="app-1") -> DesiredApp:
    return DesiredApp(guid, "hello", state, instances, version, package_state)


def hb(*instances, dea="dea-1") -> dict:
    """instances: (instance id, index[, state[, version[, droplet]]])"""
    droplets = []
    for entry in instances:
        iid, index, *rest = entry
        state = rest[0] if len(rest) > 0 else "RUNNING"
        version = rest[1] if len(rest) > 1 else "v1"
        droplet = rest[2] if len(rest) > 2 else "app-1"
        droplets.append({"droplet": droplet, "version": version, "instance": iid, "index": index,
                         "state": state, "state_timestamp": 0})
    return {"dea": dea, "droplets": droplets}


def crashed(iid: str, index: int, version="v1", droplet="app-1") -> dict:
    return {"droplet": droplet, "version": version, "instance": iid, "index": index, "reason": "CRASHED",
            "exit_status": 1, "exit_description": "boom", "crash_timestamp": 0}


def state_with(desired, now=0.0) -> HealthState:
    s = HealthState(POLICY)
    s.set_desired(desired, now)
    return s


def starts(actions):
    return [a for a in actions if isinstance(a, StartRequest)]


def stops(actions):
    return [a for a in actions if isinstance(a, StopRequest)]


def test_all_present_means_nothing_to_do():
    s = state_with([app()])
    for t in range(0, 100, 10):
        s.observe_heartbeat(hb(("a", 0), ("b", 1)), t)
        s.set_desired([app()], t)
        assert s.decide(t) == []


def test_missing_only_after_n_heartbeat_intervals():
    s = state_with([app()])
    s.observe_heartbeat(hb(("a", 0)), 0)
    assert s.decide(0) == []            # index 1 first seen absent now
    for t in (10, 20, 29):
        s.observe_heartbeat(hb(("a", 0)), t)
        s.set_desired([app()], t)
        assert s.decide(t) == [], t
    s.observe_heartbeat(hb(("a", 0)), 30)
    s.set_desired([app()], 30)
    assert s.decide(30) == [StartRequest("app-1", "v1", (1,))]
    # asked once: not again until another grace period has passed
    assert s.decide(31) == []
    s.set_desired([app()], 55)
    s.observe_heartbeat(hb(("a", 0)), 55)
    assert s.decide(55) == []
    s.observe_heartbeat(hb(("a", 0)), 60)
    s.set_desired([app()], 60)
    assert s.decide(60) == [StartRequest("app-1", "v1", (1,))]


def test_start_message_shape():
    assert StartRequest("g", "v", (0, 2)).message() == {"droplet": "g", "version": "v", "indices": [0, 2]}
    assert StopRequest("g", ("i1",)).message() == {"droplet": "g", "instances": ["i1"]}


def test_an_instance_that_stops_heartbeating_goes_missing():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0)), 0)
    assert s.decide(0) == []
    # its DEA dies: no more heartbeats; after the grace the instance expires, then the index
    # has been absent for a grace period
    s.set_desired([app(instances=1)], 35)
    assert s.decide(35) == []           # expired now, absence noticed now
    s.set_desired([app(instances=1)], 65)
    assert s.decide(65) == [StartRequest("app-1", "v1", (0,))]


def test_instance_gone_from_its_deas_heartbeat_counts_as_absent_at_once():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0)), 0)
    s.observe_heartbeat(hb(dea="dea-1"), 5)      # dea-1 no longer runs "a"
    assert s.decide(5) == []
    s.set_desired([app(instances=1)], 35)
    assert s.decide(35) == [StartRequest("app-1", "v1", (0,))]


def test_crash_restarts_at_once_three_times_then_backs_off_doubling_capped():
    s = state_with([app(instances=1)])
    t = 0.0
    delays = []
    for n in range(1, 8):
        s.observe_heartbeat(hb((f"i{n}", 0)), t)
        s.set_desired([app(instances=1)], t)
        assert s.decide(t) == []
        t += 1
        s.observe_exited(crashed(f"i{n}", 0), t)
        crash_at = t
        while True:
            s.set_desired([app(instances=1)], t)
            if starts(s.decide(t)):
                break
            t += 1
        delays.append(t - crash_at)
    assert delays == [0, 0, 0, 30, 60, 120, 120]


def test_crash_count_resets_after_a_quiet_period():
    s = state_with([app(instances=1)])
    for n in range(4):
        s.observe_exited(crashed(f"i{n}", 0), n)
    assert s.records[("app-1", 0)].crash_count == 4
    s.observe_exited(crashed("later", 0), 4 + 601)
    assert s.records[("app-1", 0)].crash_count == 1


def test_crashes_of_an_old_version_do_not_count_for_the_new_one():
    s = state_with([app(instances=1, version="v2")])
    for n in range(5):
        s.observe_exited(crashed(f"i{n}", 0, version="v1"), n)
    s.observe_exited(crashed("new", 0, version="v2"), 10)
    assert s.records[("app-1", 0)].crash_count == 1
    assert starts(s.decide(10)) == [StartRequest("app-1", "v2", (0,))]


def test_stopped_or_unstaged_apps_are_not_started():
    for desired in (app(state="STOPPED"), app(package_state="PENDING"), app(package_state="FAILED")):
        s = state_with([desired])
        assert s.decide(0) == []
        s.set_desired([desired], 100)
        assert starts(s.decide(100)) == [], desired


def test_extras_are_stopped_after_the_grace_period():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0), ("b", 1), ("c", 2)), 0)
    assert stops(s.decide(0)) == []
    for t in (10, 20):
        s.observe_heartbeat(hb(("a", 0), ("b", 1), ("c", 2)), t)
        s.set_desired([app(instances=1)], t)
        assert stops(s.decide(t)) == []
    s.observe_heartbeat(hb(("a", 0), ("b", 1), ("c", 2)), 30)
    s.set_desired([app(instances=1)], 30)
    assert s.decide(30) == [StopRequest("app-1", ("b", "c"))]
    s.observe_heartbeat(hb(("a", 0), ("b", 1), ("c", 2)), 31)
    assert s.decide(31) == []           # asked already


def test_instances_newer_than_the_desired_state_are_not_judged_by_it():
    """The CC started the app just after the HM's last fetch, then went away (a restart): the
    HM's view still says "stopped", but it is older than the instances, so they stay,
    past the grace, until a fetch made after they appeared says otherwise."""
    s = state_with([app(instances=3, state="STOPPED")], now=0)
    for t in (0.5, 1, 35, 50):  # no fetch succeeds: the CC is down (the view is not stale yet)
        s.observe_heartbeat(hb(("a", 0), ("b", 1), ("c", 2)), t)
        assert stops(s.decide(t)) == []
    s.set_desired([app(instances=1)], 51)  # the CC is back: now scaled to one
    assert stops(s.decide(51)) == []  # the grace starts now
    s.observe_heartbeat(hb(("a", 0), ("b", 1), ("c", 2)), 81)
    s.set_desired([app(instances=1)], 81)
    assert s.decide(81) == [StopRequest("app-1", ("b", "c"))]


def test_a_scale_up_the_hm_has_not_read_yet_is_not_stopped():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0), ("b", 1)), 0)
    assert s.decide(0) == []
    s.set_desired([app(instances=2)], 5)        # the CC scaled up; the HM catches up in time
    s.observe_heartbeat(hb(("a", 0), ("b", 1)), 10)
    assert s.decide(10) == []
    s.observe_heartbeat(hb(("a", 0), ("b", 1)), 40)
    s.set_desired([app(instances=2)], 40)
    assert s.decide(40) == []


def test_stopped_deleted_and_old_version_instances_are_extra():
    s = state_with([app(instances=1, version="v2"), app(guid="app-2", state="STOPPED")])
    s.observe_heartbeat(hb(("old", 0, "RUNNING", "v1"), ("new", 0, "RUNNING", "v2"),
                           ("stopped", 0, "RUNNING", "v1", "app-2"), ("ghost", 0, "RUNNING", "v1", "deleted")), 0)
    s.decide(0)
    s.observe_heartbeat(hb(("old", 0, "RUNNING", "v1"), ("new", 0, "RUNNING", "v2"),
                           ("stopped", 0, "RUNNING", "v1", "app-2"), ("ghost", 0, "RUNNING", "v1", "deleted")), 30)
    s.set_desired([app(instances=1, version="v2"), app(guid="app-2", state="STOPPED")], 30)
    assert sorted(stops(s.decide(30)), key=lambda a: a.droplet) == [
        StopRequest("app-1", ("old",)), StopRequest("app-2", ("stopped",)), StopRequest("deleted", ("ghost",))]


def test_duplicate_index_keeps_the_running_one():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("starting", 0, "STARTING"), ("running", 0, "RUNNING")), 0)
    s.decide(0)
    s.observe_heartbeat(hb(("starting", 0, "STARTING"), ("running", 0, "RUNNING")), 30)
    s.set_desired([app(instances=1)], 30)
    assert s.decide(30) == [StopRequest("app-1", ("starting",))]


def test_crashed_state_in_a_heartbeat_is_not_live():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0, "CRASHED")), 0)
    s.decide(0)
    s.observe_heartbeat(hb(("a", 0, "CRASHED")), 30)
    s.set_desired([app(instances=1)], 30)
    assert s.decide(30) == [StartRequest("app-1", "v1", (0,))]


def test_no_desired_state_or_a_stale_one_means_no_action():
    s = HealthState(POLICY)
    s.observe_exited(crashed("a", 0), 0)
    assert s.decide(0) == []
    s.set_desired([app(instances=1)], 0)
    assert s.decide(61) == []           # the CC stopped answering a minute ago


def test_dea_shutdown_restarts_without_waiting():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0)), 0)
    s.decide(0)
    s.observe_exited({"droplet": "app-1", "version": "v1", "instance": "a", "index": 0,
                      "reason": "DEA_SHUTDOWN"}, 3)
    assert s.decide(3) == [StartRequest("app-1", "v1", (0,))]
    assert s.records[("app-1", 0)].crash_count == 0


def test_stopped_exit_is_not_a_crash():
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("a", 0)), 0)
    s.decide(0)
    s.observe_exited({"droplet": "app-1", "version": "v1", "instance": "a", "index": 0, "reason": "STOPPED"}, 1)
    assert s.decide(1) == []


def test_backoff_policy_numbers():
    p = Policy(immediate_restarts=3, backoff_base=30, backoff_max=960)
    assert [p.restart_delay(n) for n in range(1, 11)] == [0, 0, 0, 30, 60, 120, 240, 480, 960, 960]
    assert Policy().grace == 30


def test_a_crash_before_the_desired_state_knows_the_app_still_counts():
    s = state_with([])                      # snapshot taken before the app was pushed
    s.observe_exited(crashed("a", 0), 1)
    assert s.decide(1) == []
    s.set_desired([app(instances=1)], 2)
    assert s.decide(2) == [StartRequest("app-1", "v1", (0,))]


def test_records_of_apps_that_never_show_up_are_forgotten():
    s = state_with([])
    s.observe_exited(crashed("a", 0, droplet="ghost"), 1)
    s.decide(1)
    assert ("ghost", 0) in s.records
    s.set_desired([], 1000)
    s.decide(1000)
    assert s.records == {}


def test_a_heartbeat_read_after_the_exit_does_not_revive_the_crashed_instance():
    """Heartbeats and exits arrive on separate subscriptions: one sent just before a crash may
    be read just after its droplet.exited. The crash must still be acted on at once."""
    s = state_with([app(instances=1)])
    s.observe_heartbeat(hb(("i1", 0)), 0)
    assert s.decide(0) == []
    s.observe_exited(crashed("i1", 0), 1)
    s.observe_heartbeat(hb(("i1", 0)), 1)            # the stale one, still saying RUNNING
    assert s.decide(1) == [StartRequest("app-1", "v1", (0,))]
    s.observe_heartbeat(hb(("i2", 0)), 2)            # the replacement is seen normally
    assert s.decide(2) == []


def test_a_crash_newer_than_a_desired_state_that_predates_the_start_still_counts():
    """The HM's snapshot may still say "not staged" when the first instance already crashed;
    that crash is the first of the series once the next snapshot says STARTED."""
    s = state_with([app(instances=1, package_state="PENDING")], now=0)
    s.observe_exited(crashed("i1", 0), 1)
    assert s.decide(1) == []
    s.set_desired([app(instances=1)], 2)
    assert s.decide(2) == [StartRequest("app-1", "v1", (0,))]   # at once: crash 1 of 3
