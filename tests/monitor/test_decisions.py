"""The resurrector's rules as tables of cases: plain data in, a decision out (no DB, NATS or clock)."""

from __future__ import annotations

import pytest

from bosh_py.monitor.bus_watch import BusWatch
from bosh_py.monitor.decisions import (BUS_EPISODE, MASS_SILENCE_EPISODE, Member, Observation, Rules, decide,
                                       meltdown_episode)

RULES = Rules(minimum_down_jobs=2, percent_threshold=0.5)


def fleet(deployment: str, count: int, first_id: int = 0, no_vm: tuple[int, ...] = ()) -> tuple[Member, ...]:
    return tuple(Member(deployment, first_id + i, f"web/{deployment}-{i}",
                        None if i in no_vm else f"{deployment}-a{i}") for i in range(count))


def resurrected(decision) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    return {d: {m.name for m in members} for d, members in decision.resurrect.items()}


def test_one_silent_agent_among_healthy_ones_is_resurrected():
    members = fleet("web", 3) + fleet("db", 3, first_id=10)
    decision = decide(Observation(members, frozenset({"web-a1"})), RULES, frozenset())
    assert resurrected(decision) == {"web": {"web/web-1"}}
    assert decision.notes == ()


def test_nothing_happens_while_the_directors_bus_connection_is_down():
    members = fleet("web", 3)
    everyone = frozenset(m.agent_id for m in members)
    decision = decide(Observation(members, everyone, bus_problem="the director's NATS connection is down"),
                      RULES, frozenset())
    assert decision.resurrect == {}
    assert [(n.deployment, n.action) for n in decision.notes] == [(None, "hold")]
    assert BUS_EPISODE in decision.open_episodes
    again = decide(Observation(members, everyone, bus_problem="still down"), RULES, decision.open_episodes)
    assert again.notes == () and again.resurrect == {}, "one event per outage, not one per round"


@pytest.mark.parametrize("silent, total, held", [
    (2, 3, True),    # most agents silent together: the bus, not the VMs
    (3, 3, True),
    (2, 4, False),   # exactly half is not "most"
    (1, 1, False),   # a single agent is never a mass silence
    (1, 2, False),
])
def test_most_agents_silent_at_once_is_the_bus_not_the_vms(silent, total, held):
    members = fleet("web", total)
    silent_ids = frozenset(m.agent_id for m in members[:silent])
    decision = decide(Observation(members, silent_ids), Rules(minimum_down_jobs=99), frozenset())
    assert (decision.resurrect == {}) is held
    assert any(n.action == "mass silence" for n in decision.notes) is held
    assert (MASS_SILENCE_EPISODE in decision.open_episodes) is held


def test_mass_silence_counts_agents_across_all_deployments():
    members = fleet("web", 2) + fleet("db", 2, first_id=10)
    # both of web's agents are silent but db's are fine: 2 of 4 is not most: web alone decides
    decision = decide(Observation(members, frozenset({"web-a0", "web-a1"})), Rules(minimum_down_jobs=99),
                      frozenset())
    assert resurrected(decision) == {"web": {"web/web-0", "web/web-1"}}


def test_mass_silence_is_one_event_per_episode_and_ends_when_agents_are_back():
    members = fleet("web", 3)
    silent = frozenset({"web-a0", "web-a1", "web-a2"})
    first = decide(Observation(members, silent), RULES, frozenset())
    second = decide(Observation(members, silent), RULES, first.open_episodes)
    assert len(first.notes) == 1 and second.notes == ()
    healthy = decide(Observation(members, frozenset()), RULES, second.open_episodes)
    assert MASS_SILENCE_EPISODE not in healthy.open_episodes
    relapse = decide(Observation(members, silent), RULES, healthy.open_episodes)
    assert len(relapse.notes) == 1, "a new episode is reported again"


def test_a_late_heartbeat_of_a_healthy_agent_is_not_mass_silence():
    """Two VMs of "melt" died; one "calm" agent's heartbeat is merely late (a busy host): past
    the timeout but not confirmed. That is melt's meltdown, not the bus (seen in e2e runs)."""
    members = fleet("calm", 2) + fleet("melt", 2, first_id=10)
    decision = decide(Observation(members, frozenset({"calm-a0", "melt-a0", "melt-a1"}),
                                  confirmed=frozenset({"melt-a0", "melt-a1"})), RULES, frozenset())
    assert MASS_SILENCE_EPISODE not in decision.open_episodes
    assert [(n.deployment, n.action) for n in decision.notes] == [("melt", "meltdown")]
    assert decision.resurrect == {}


def test_meltdown_is_one_event_per_episode():
    members = fleet("web", 4) + fleet("db", 6, first_id=10)
    silent = frozenset({"web-a0", "web-a1"})  # 2 of 4 in web (meltdown), 2 of 10 overall (no mass silence)
    open_episodes: frozenset[str] = frozenset()
    notes = []
    for _round in range(5):
        decision = decide(Observation(members, silent), RULES, open_episodes)
        assert decision.resurrect == {}
        notes += decision.notes
        open_episodes = decision.open_episodes
    assert [(n.deployment, n.action) for n in notes] == [("web", "meltdown")]
    recovered = decide(Observation(members, frozenset()), RULES, open_episodes)
    assert meltdown_episode("web") not in recovered.open_episodes
    again = decide(Observation(members, silent), RULES, recovered.open_episodes)
    assert [(n.deployment, n.action) for n in again.notes] == [("web", "meltdown")]


def test_meltdown_counts_instances_already_being_recreated():
    members = fleet("web", 4) + fleet("db", 6, first_id=10)
    # web/0 is being recreated; now web/1 falls silent: 2 of 4 not running is a meltdown
    decision = decide(Observation(members, frozenset({"web-a1"}), recreating=frozenset({0})), RULES, frozenset())
    assert decision.resurrect == {}
    assert [n.action for n in decision.notes] == ["meltdown"]
    # without the recreate in flight, web/1 alone is resurrected
    alone = decide(Observation(members, frozenset({"web-a1"})), RULES, frozenset())
    assert resurrected(alone) == {"web": {"web/web-1"}}


def test_meltdown_counts_instances_left_without_a_vm():
    members = fleet("web", 4, no_vm=(0,)) + fleet("db", 6, first_id=10)
    decision = decide(Observation(members, frozenset({"web-a1"})), RULES, frozenset())
    assert decision.resurrect == {} and [n.action for n in decision.notes] == ["meltdown"]


def test_an_instance_whose_recreate_is_in_flight_is_not_recreated_twice():
    members = fleet("web", 10)
    decision = decide(Observation(members, frozenset({"web-a1", "web-a2"}), recreating=frozenset({1})),
                      Rules(minimum_down_jobs=5), frozenset())
    assert resurrected(decision) == {"web": {"web/web-2"}}


def test_a_locked_deployment_waits():
    members = fleet("web", 3) + fleet("db", 3, first_id=10)
    decision = decide(Observation(members, frozenset({"web-a1"}), locked=frozenset({"web"})), RULES,
                      frozenset())
    assert decision.resurrect == {} and decision.notes == ()


def test_bus_watch_holds_while_down_and_for_the_grace_after_it_comes_back():
    bus = BusWatch(grace=12)
    assert bus.problem(now=0) is None
    bus.disconnected(now=10)
    assert "down" in bus.problem(now=11)
    bus.reconnected(now=20)
    assert "came back" in bus.problem(now=31)
    assert bus.problem(now=32.5) is None
    assert "down" in bus.problem(now=40, connected_now=False), "the client's own flag counts too"
    assert bus.outages == 1


def test_after_a_mass_silence_stragglers_get_the_grace_too():
    bus = BusWatch(grace=12)
    bus.mass_silence(now=100)
    assert "most agents were silent" in bus.problem(now=105)
    assert bus.problem(now=112.5) is None


def test_a_bus_hold_inside_a_mass_silence_is_not_reported_twice():
    members = fleet("web", 3)
    silent = frozenset(m.agent_id for m in members)
    first = decide(Observation(members, silent), RULES, frozenset())
    held = decide(Observation(members, silent, bus_problem="most agents were silent 1s ago"), RULES,
                  first.open_episodes)
    assert [n.action for n in first.notes] == ["mass silence"] and held.notes == ()
    assert held.resurrect == {}


def test_a_silent_agent_is_recreated_only_once_its_silence_is_confirmed():
    """web-a0 and web-a1 died together, but a1 heartbeat later in its cycle: when a0 times
    out a1 is not silent yet. Waiting a heartbeat interval (confirmed) lets both count."""
    members = fleet("web", 2) + fleet("db", 3, first_id=10)
    early = decide(Observation(members, frozenset({"web-a0"}), confirmed=frozenset()), RULES, frozenset())
    assert early.resurrect == {} and early.notes == (), "not confirmed yet: wait"
    later = decide(Observation(members, frozenset({"web-a0", "web-a1"}), confirmed=frozenset({"web-a0"})),
                   RULES, frozenset())
    assert later.resurrect == {} and [n.action for n in later.notes] == ["meltdown"]
    alone = decide(Observation(members, frozenset({"web-a0"}), confirmed=frozenset({"web-a0"})), RULES,
                   frozenset())
    assert resurrected(alone) == {"web": {"web/web-0"}}


def test_bus_watch_holds_after_the_directors_own_loop_stalled():
    bus = BusWatch(grace=12)
    bus.stalled(now=50)
    assert "event loop stalled" in bus.problem(now=55)
    assert bus.problem(now=62.5) is None
