from bosh_py.monitor.agents import AgentTracker
from bosh_py.monitor.meltdown import in_meltdown


def test_silent_agents_become_unresponsive_after_the_timeout():
    tracker = AgentTracker(timeout=10)
    tracker.track({"a", "b"}, now=0)
    tracker.heartbeat("a", {"job_state": "running"}, now=8)
    assert tracker.unresponsive(now=9) == set()
    assert tracker.unresponsive(now=11) == {"b"}, "b never heartbeat since it was first tracked"
    assert tracker.unresponsive(now=19) == {"a", "b"}


def test_agents_that_are_gone_are_forgotten():
    tracker = AgentTracker(timeout=10)
    tracker.track({"a", "b"}, now=0)
    tracker.track({"a"}, now=1)
    assert tracker.unresponsive(now=100) == {"a"}


def test_meltdown_needs_both_the_count_and_the_share():
    assert not in_meltdown(4, 4)            # fewer than 5 down: always resurrect
    assert in_meltdown(5, 20)               # 5 down, 25 %
    assert not in_meltdown(5, 100)          # 5 % is below the 20 % threshold
    assert not in_meltdown(0, 0)


def test_unresponsive_longer_by_a_heartbeat_interval():
    tracker = AgentTracker(timeout=6)
    tracker.track({"a", "b"}, now=0)
    tracker.heartbeat("b", {}, now=4)
    assert tracker.unresponsive(now=10.5) == {"a", "b"}
    assert tracker.unresponsive(now=10.5, longer_by=5) == set(), "a: 10.5 s silent is not past 6 + 5"
    assert tracker.unresponsive(now=11.5, longer_by=5) == {"a"}
