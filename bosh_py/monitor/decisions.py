"""What the resurrector does in one analysis round, decided from plain data (no DB, no NATS,
no clock), so every rule is a table of cases in tests/monitor.

The rules, in order, each one a reason to hold back rather than risk destroying healthy VMs:

1. The director's own bus connection is down or just came back: silence means nothing.
2. Mass silence: most agents across the director (more than ``mass_silence_share`` of them,
   and at least ``mass_silence_minimum``) are silent at once. VMs do not die together; a bus,
   a bridge or the host does. Record it, act on none. Only ``confirmed`` silence counts here,
   so a healthy agent whose heartbeat is merely late (a busy host) cannot tip the director
   into mass silence while a few VMs really died; nothing is recreated before confirmation
   either, so this rule always speaks first.
3. Per deployment: locked (a task is changing it) means wait; meltdown (BOSH's rule) counts
   every instance that is not running: silent agents, instances whose recreate is queued or
   running, and instances left without a VM.
4. Otherwise the silent instances not already being recreated get a recreate, once their
   silence is ``confirmed``: silent for one more heartbeat interval. Agents heartbeat at
   different phases, so VMs that died at the same moment cross the timeout up to one
   interval apart; waiting that long lets rule 3 count them all before the first is
   recreated on its own. A silent agent with direct evidence of death (``vanished``: the
   CPI's ``has_vm`` answered false, or nats-server holds no connection of it while the
   director's own is fine) needs no timeout and no confirmation. Every agent without a
   connection counts as down for rule 3 at once, even one heard from a moment ago: VMs
   killed together lose their connections together, whatever their heartbeat phase, so
   meltdown sees them all in the round the first one is acted on. ``has_vm`` true proves
   nothing (a VM can exist and be dead), so it never speeds anything up.
5. Instances whose resurrection is switched off (``bosh-py update-resurrection off``) are
   counted for meltdown like the others but never recreated; one event says so.

Each hold records one event per episode: the episode stays open (``open_episodes``) until
its cause is gone, so a long outage is one event, not one per round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bosh_py.monitor.meltdown import in_meltdown

BUS_EPISODE = "bus"
MASS_SILENCE_EPISODE = "mass-silence"


def meltdown_episode(deployment: str) -> str:
    return f"meltdown:{deployment}"


def paused_episode(deployment: str) -> str:
    return f"resurrection-off:{deployment}"


@dataclass(frozen=True)
class Member:
    """An instance expected to run. ``agent_id`` is None when it has no VM right now."""

    deployment: str
    instance_id: int
    name: str  # group/uuid
    agent_id: str | None
    vm_cid: str | None = None
    cpi: str = "default"  # the CPI that made vm_cid: the one to ask whether it still exists

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]


@dataclass(frozen=True)
class Rules:
    minimum_down_jobs: int = 5
    percent_threshold: float = 0.2
    mass_silence_share: float = 0.5
    mass_silence_minimum: int = 2


@dataclass(frozen=True)
class Observation:
    members: tuple[Member, ...]
    silent: frozenset[str]  # agent ids past their timeout
    locked: frozenset[str] = frozenset()  # deployment names
    recreating: frozenset[int] = frozenset()  # instance ids with a recreate queued or running
    bus_problem: str | None = None  # BusWatch.problem()
    confirmed: frozenset[str] | None = None  # silent for a further heartbeat interval (None: all silent)
    vanished: frozenset[str] = frozenset()  # agent ids with direct evidence of death (has_vm, NATS)
    # of those, the ones silent long enough to act on (None: all); the others count for meltdown only
    vanished_confirmed: frozenset[str] | None = None
    paused: frozenset[int] = frozenset()  # instance ids whose resurrection is switched off


@dataclass(frozen=True)
class Note:
    """An event to record: deployment None means director-wide."""

    deployment: str | None
    action: str
    message: str


@dataclass(frozen=True)
class Decision:
    resurrect: dict[str, tuple[Member, ...]] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()
    open_episodes: frozenset[str] = frozenset()


def mass_silence(silent: int, with_agents: int, rules: Rules) -> bool:
    return silent >= rules.mass_silence_minimum and silent > rules.mass_silence_share * with_agents


def decide(observation: Observation, rules: Rules, open_episodes: frozenset[str]) -> Decision:
    notes: list[Note] = []
    still_open: set[str] = set(open_episodes)

    def hold(episode: str, note: Note) -> None:
        if episode not in open_episodes:
            notes.append(note)
        still_open.add(episode)

    if observation.bus_problem is not None:
        if MASS_SILENCE_EPISODE not in open_episodes:  # already reported as such
            hold(BUS_EPISODE, Note(None, "hold", f"not resurrecting: {observation.bus_problem}"))
        return Decision({}, tuple(notes), frozenset(still_open))
    still_open.discard(BUS_EPISODE)

    evidence = observation.vanished if observation.vanished_confirmed is None else (
        observation.vanished_confirmed & observation.vanished)
    confirmed = (observation.silent if observation.confirmed is None else observation.confirmed) | evidence
    down_ids = observation.silent | observation.vanished
    with_agents = [m for m in observation.members if m.agent_id is not None]
    silent = [m for m in with_agents if m.agent_id in confirmed]
    if mass_silence(len(silent), len(with_agents), rules):
        hold(MASS_SILENCE_EPISODE, Note(None, "mass silence", (
            f"{len(silent)} of {len(with_agents)} agents silent at once: the bus or the network, "
            f"not the VMs; not resurrecting")))
        return Decision({}, tuple(notes), frozenset(still_open))
    still_open.discard(MASS_SILENCE_EPISODE)  # the resurrector's BusWatch covers the stragglers

    resurrect: dict[str, tuple[Member, ...]] = {}
    for deployment in sorted({m.deployment for m in observation.members}):
        members = [m for m in observation.members if m.deployment == deployment]
        down = [m for m in members if m.agent_id is not None and m.agent_id in down_ids]
        if not down:
            still_open.discard(meltdown_episode(deployment))
            still_open.discard(paused_episode(deployment))
            continue
        if deployment in observation.locked:
            continue
        not_running = {m.instance_id for m in down} | {
            m.instance_id for m in members if m.agent_id is None or m.instance_id in observation.recreating}
        if in_meltdown(len(not_running), len(members), rules.minimum_down_jobs, rules.percent_threshold):
            hold(meltdown_episode(deployment), Note(deployment, "meltdown", (
                f"{len(not_running)} of {len(members)} instances not running "
                f"({len(down)} unresponsive): not resurrecting")))
            continue
        fresh = tuple(m for m in down if m.instance_id not in observation.recreating and m.agent_id in confirmed)
        held = [m for m in fresh if m.instance_id in observation.paused]
        if held:
            hold(paused_episode(deployment), Note(deployment, "resurrection off", (
                f"unresponsive agents on {', '.join(m.name for m in held)}: resurrection is off, "
                f"not recreating")))
        else:
            still_open.discard(paused_episode(deployment))
        fresh = tuple(m for m in fresh if m.instance_id not in observation.paused)
        if fresh:
            resurrect[deployment] = fresh
    return Decision(resurrect, tuple(notes), frozenset(still_open))
