"""Detection beyond a missed heartbeat: a VM the CPI no longer has (has_vm false) is
recreated at once, has_vm true never speeds anything up, and the never-harm holds
(bus down, mass silence, meltdown) still speak first."""

from __future__ import annotations

import asyncio

from bosh_py.monitor.decisions import Member, Observation, Rules, decide
from bosh_py.monitor.vm_check import VmCheckSchedule, ask_cpis

RULES = Rules(minimum_down_jobs=2, percent_threshold=0.5)


def fleet(count: int, deployment: str = "web") -> tuple[Member, ...]:
    prefix = "" if deployment == "web" else f"{deployment}-"
    return tuple(Member(deployment, i, f"web/{i}", f"{prefix}a{i}", f"vm-{prefix}{i}") for i in range(count))


def test_a_vanished_vm_is_recreated_before_its_agent_times_out():
    members = fleet(4)
    decision = decide(Observation(members, silent=frozenset(), vanished=frozenset({"a1"})), RULES, frozenset())
    assert {m.name for m in decision.resurrect["web"]} == {"web/1"}


def test_silence_alone_before_the_timeout_recreates_nothing():
    """Without has_vm false, an agent below its timeout is left alone (has_vm true adds nothing)."""
    decision = decide(Observation(fleet(4), silent=frozenset()), RULES, frozenset())
    assert decision.resurrect == {}


def test_a_vanished_vm_waits_while_the_bus_is_down():
    decision = decide(Observation(fleet(4), frozenset(), vanished=frozenset({"a1"}),
                                  bus_problem="the director's NATS connection is down"), RULES, frozenset())
    assert decision.resurrect == {}
    assert [n.action for n in decision.notes] == ["hold"]


def test_vanished_vms_count_for_meltdown():
    members = fleet(4)
    decision = decide(Observation(members, frozenset({"a0"}), vanished=frozenset({"a1", "a2"})),
                      Rules(minimum_down_jobs=2, percent_threshold=0.5, mass_silence_minimum=99), frozenset())
    assert decision.resurrect == {}
    assert [n.action for n in decision.notes] == ["meltdown"]


def test_resurrection_off_holds_with_one_event_per_episode():
    members = fleet(4)
    observation = Observation(members, frozenset({"a1"}), paused=frozenset({1}))
    first = decide(observation, RULES, frozenset())
    assert first.resurrect == {}
    assert [(n.deployment, n.action) for n in first.notes] == [("web", "resurrection off")]
    again = decide(observation, RULES, first.open_episodes)
    assert again.notes == () and again.resurrect == {}
    other = decide(Observation(members, frozenset({"a2"}), paused=frozenset({1})), RULES, frozenset())
    assert {m.name for m in other.resurrect["web"]} == {"web/2"}, "only the paused instance is held"


def test_each_vm_is_asked_at_most_once_per_interval_and_again_when_silent_anew():
    schedule = VmCheckSchedule(interval=10)
    one, two = fleet(2)
    assert schedule.due([one, two], now=0) == [one, two]
    assert schedule.due([one, two], now=5) == []
    assert schedule.due([one], now=10) == [one]
    assert schedule.due([two], now=11) == [two], "two was forgotten when it stopped being suspect"


def test_a_cpi_error_is_not_evidence_that_the_vm_is_gone():
    members = list(fleet(3))

    async def has_vm(member: Member) -> bool:
        if member.agent_id == "a0":
            raise RuntimeError("CPI exploded")
        return member.agent_id != "a1"

    assert asyncio.run(ask_cpis(members, has_vm)) == frozenset({"a1"})


def test_most_agents_disconnected_at_once_is_mass_silence_not_dead_vms():
    """nats-server dropping every agent (a restart the director's own connection survived)
    is evidence against the bus, not the VMs: held like any mass silence."""
    members = fleet(4)
    everyone = frozenset(m.agent_id for m in members if m.agent_id)
    decision = decide(Observation(members, frozenset(), vanished=everyone), Rules(minimum_down_jobs=99), frozenset())
    assert decision.resurrect == {}
    assert [n.action for n in decision.notes] == ["mass silence"]


def test_vms_killed_together_are_a_meltdown_before_the_first_is_recreated():
    """Both lost their connections at once; only one has been silent long enough yet. The
    other still counts as down, so the deployment is in meltdown and nothing is recreated."""
    members = fleet(2) + fleet(2, deployment="calm")
    decision = decide(Observation(members, frozenset(), vanished=frozenset({"a0", "a1"}),
                                  vanished_confirmed=frozenset({"a0"})),
                      Rules(minimum_down_jobs=2, percent_threshold=0.9), frozenset())
    assert decision.resurrect == {}
    assert [(n.deployment, n.action) for n in decision.notes] == [("web", "meltdown")]


def test_a_disconnected_agent_not_yet_silent_long_enough_is_not_recreated():
    decision = decide(Observation(fleet(4), frozenset(), vanished=frozenset({"a1"}), vanished_confirmed=frozenset()),
                      RULES, frozenset())
    assert decision.resurrect == {}
