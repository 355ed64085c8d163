"""The health monitor inside the director: heartbeats in, recreate tasks out.

Agents heartbeat on ``hm.agent.heartbeat.<agent_id>``. Every ``analysis_interval`` seconds the
monitor gathers what it knows (instances expected to run, silent agents, locks, recreates
in flight, the director's own bus state) and lets ``decisions.decide`` say what to do: an
instance whose agent is unresponsive is recreated by a task (a deploy restricted to it,
keeping its IP and persistent disk) unless one of the hold-back rules applies. An agent
silent for ``suspect_after`` seconds is checked for direct evidence: its NATS connection
(nats_connections.py) and its VM (the CPI's has_vm, vm_check.py); a dead one is recreated
without waiting for the timeout. Each decision is recorded
as an event and, with a webhook configured, POSTed as an alert (webhook.py). Runs on the
director's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from sqlalchemy import select

from bosh_py.director.config import HealthMonitorConfig
from bosh_py.director.models import Deployment, Event
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.monitor import director_alerts
from bosh_py.monitor.agents import AgentTracker
from bosh_py.monitor.bus_watch import BusWatch
from bosh_py.monitor.decisions import (
    MASS_SILENCE_EPISODE,
    Member,
    Observation,
    Rules,
    decide,
)
from bosh_py.monitor.nats_connections import disconnected, fetch_connected_users
from bosh_py.monitor.resurrection_rules import enabled, load_rules
from bosh_py.monitor.vm_check import VmCheckSchedule, ask_cpis
from bosh_py.monitor.webhook import WebhookNotifier, alert

# BOSH's severities: 1 alert, 2 critical, 3 error, 4 warning
SEVERITIES = {"resurrect": 2, "meltdown": 1, "mass silence": 1, "hold": 1, "unresponsive": 3,
              "vm missing": 2, "agent disconnected": 2, "resurrection off": 4}

log = logging.getLogger(__name__)


def bus_grace(config: HealthMonitorConfig) -> float:
    """How long silence is ignored after the director's bus connection comes back: two agent
    timeouts, so every agent has reconnected and heartbeat at least once before it counts."""
    return 2 * config.agent_timeout


class Resurrector:
    def __init__(self, director: Director, config: HealthMonitorConfig, bus: BusWatch | None = None) -> None:
        self.director = director
        self.config = config
        self.tracker = AgentTracker(config.agent_timeout)
        self.bus = bus or BusWatch(bus_grace(config))
        self.rules = Rules(config.minimum_down_jobs, config.percent_threshold)
        self._subscription = None
        self._director_alerts = None
        self._open_episodes: frozenset[str] = frozenset()
        self._recreates: dict[int, frozenset[int]] = {}  # task id -> instance ids it recreates
        self.vm_checks = VmCheckSchedule(config.vm_check_interval)
        self.webhook = WebhookNotifier(config.webhook) if config.webhook else None
        self._reported_silent: frozenset[str] = frozenset()  # agents already announced unresponsive
        self._reported_gone: frozenset[str] = frozenset()  # agents already announced disconnected
        self._locked_last_round: frozenset[str] = frozenset()

    async def start(self) -> None:
        async def on_heartbeat(msg) -> None:  # type: ignore[no-untyped-def]
            agent_id = msg.subject.rsplit(".", 1)[-1]
            try:
                payload = json.loads(msg.data)
            except ValueError:
                return
            if isinstance(payload, dict):
                self.tracker.heartbeat(agent_id, payload, time.monotonic())

        self._subscription = await self.director.nats.subscribe("hm.agent.heartbeat.*", cb=on_heartbeat)
        if self.webhook is not None:  # the director's own alerts (cloud check) to the same plugin
            self._director_alerts = await director_alerts.subscribe(self.director.nats, self.webhook.notify)

    async def run_forever(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.config.analysis_interval)
            late = time.monotonic() - before - self.config.analysis_interval
            if late > self.config.agent_timeout / 2:  # long enough to fake a silent agent
                log.warning("health analysis ran %.1fs late: the director's event loop stalled", late)
                self.bus.stalled(time.monotonic())
            try:
                await self.analyze()
            except Exception:  # the monitor must outlive any one bad round
                log.exception("health analysis failed")

    def members(self) -> tuple[Member, ...]:
        """Instances expected to run (state started), with their agent if they have a VM."""
        with self.director.sessions() as session:
            return tuple(Member(d.name, i.id, f"{i.group}/{i.uuid}", i.agent_id if i.vm_cid else None,
                                i.vm_cid, i.cpi)
                         for d in session.scalars(select(Deployment)) for i in d.instances
                         if i.state == "started")

    def paused(self, members: tuple[Member, ...]) -> frozenset[int]:
        """Instances whose resurrection is off (update-resurrection)."""
        with self.director.sessions() as session:
            rules = load_rules(session)
        return frozenset(m.instance_id for m in members if not enabled(rules, m.deployment, m.group))

    async def dead(self, members: tuple[Member, ...], now: float,
                   locked: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """Direct evidence of death, looked for once an agent is silent for ``suspect_after``
        seconds: (every agent without a NATS connection or whose VM the CPI says is gone,
        the silent ones among them). The first counts for meltdown, the second is acted on."""
        nothing: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        connected = bool(getattr(self.director.nats, "is_connected", True))
        if self.config.suspect_after <= 0 or self.bus.problem(now, connected) is not None:
            return nothing  # while the bus is in doubt nothing is recreated anyway: no alarms
        # a locked deployment is being changed (VMs stopped and deleted on purpose): not asked
        watched = [m for m in members if m.agent_id and m.deployment not in locked]
        silent_ids = self.tracker.unresponsive(now, longer_by=self.config.suspect_after - self.config.agent_timeout)
        suspects = [m for m in watched if m.agent_id in silent_ids]
        if not suspects:
            return nothing
        users = await fetch_connected_users(self.director.nats_server.monitor_url())
        gone = disconnected({m.agent_id for m in watched if m.agent_id}, users) if users is not None else frozenset()
        suspect_ids = frozenset(m.agent_id for m in suspects if m.agent_id)
        for member in suspects:
            if member.agent_id in gone and member.agent_id not in self._reported_gone:
                self._event(member.deployment, "agent disconnected",
                            f"{member.name}: agent {member.agent_id} silent and not connected to NATS")
        self._reported_gone = gone & suspect_ids

        async def has_vm(member: Member) -> bool:
            return bool(await self.director.cpi(name=member.cpi).call("has_vm", member.vm_cid))

        due = self.vm_checks.due([m for m in suspects if m.agent_id not in gone], now)
        vanished = await ask_cpis(due, has_vm) if due else frozenset()
        for member in due:
            if member.agent_id in vanished:
                self._event(member.deployment, "vm missing",
                            f"{member.name}: the CPI has no VM {member.vm_cid} any more (has_vm false)")
        return gone | vanished, (gone | vanished) & suspect_ids

    def locked(self) -> frozenset[str]:
        """Deployments a task holds the lock of."""
        return frozenset(lock.name.split(":", 1)[-1] for lock in self.director.locks.active())

    def recreating(self) -> frozenset[int]:
        """Instances whose recreate task (ours) is still queued or running."""
        unfinished = self.director.tasks.unfinished(list(self._recreates))  # whichever process runs them
        self._recreates = {task_id: ids for task_id, ids in self._recreates.items() if task_id in unfinished}
        return frozenset(i for ids in self._recreates.values() for i in ids)

    def observe(self, now: float, members: tuple[Member, ...] | None = None,
                vanished: frozenset[str] = frozenset(),
                vanished_confirmed: frozenset[str] | None = None,
                locked: frozenset[str] | None = None) -> Observation:
        """What the monitor knows now. Pass ``members`` with the ``locked`` read before them:
        read after, a task ending in between would unlock instances read before it ended."""
        locked = self.locked() if locked is None else locked
        members = self.members() if members is None else members
        self.tracker.track({m.agent_id for m in members if m.agent_id}, now)
        connected = bool(getattr(self.director.nats, "is_connected", True))
        confirm_after = float(getattr(self.director.config, "heartbeat_interval", 0))
        return Observation(members, frozenset(self.tracker.unresponsive(now)), locked, self.recreating(),
                           self.bus.problem(now, connected),
                           frozenset(self.tracker.unresponsive(now, longer_by=confirm_after)),
                           vanished, vanished_confirmed, self.paused(members))

    async def analyze(self) -> list[int]:
        """One round; returns the ids of the tasks it started."""
        now = time.monotonic()
        locked = self.locked()  # before the instances: one snapshot (observe says why)
        members = self.members()
        self.tracker.track({m.agent_id for m in members if m.agent_id}, now)
        self._grace_after_tasks(locked, members, now)
        vanished, acted_on = await self.dead(members, now, locked)
        now = time.monotonic()
        observation = self.observe(now, members, vanished, acted_on, locked)
        self._announce_unresponsive(observation)
        decision = decide(observation, self.rules, self._open_episodes)
        if MASS_SILENCE_EPISODE in decision.open_episodes and observation.bus_problem is None:
            self.bus.mass_silence(now)  # hold on until the stragglers heartbeat again
        self._open_episodes = decision.open_episodes
        for note in decision.notes:
            self._event(note.deployment, note.action, note.message)
        started = [self._resurrect(deployment, list(down)) for deployment, down in decision.resurrect.items()]
        return [task_id for task_id in started if task_id is not None]

    def _grace_after_tasks(self, locked: frozenset[str], members: tuple[Member, ...], now: float) -> None:
        """A deployment a task just released starts its agents' clocks afresh: the task stopped,
        replaced and restarted them on purpose, so silence measured while it ran (a new VM's
        agent tracked from the moment its row named it, heartbeats late while the host was busy
        with the task) is not counted against them. A VM that really died is then recreated
        one agent timeout later."""
        released = self._locked_last_round - locked
        self._locked_last_round = locked
        if released:
            self.tracker.restart_clocks({m.agent_id for m in members if m.agent_id and m.deployment in released}, now)

    def _resurrect(self, deployment: str, down: list[Member]) -> int | None:
        from bosh_py.director.jobs.deployment_actions import prepare_deployed

        try:
            prepare_deployed(self.director, deployment)  # a manifest that no longer plans is not queued
        except BoshPyError as error:
            self._event(deployment, "resurrect", f"cannot plan the recreate: {error}")
            return None
        task_id = self.director.tasks.submit(
            f"scan and fix: recreate {', '.join(m.name for m in down)}", deployment, "recreate",
            {"deployment": deployment, "instance_ids": sorted(m.instance_id for m in down), "options": {}})
        self._recreates[task_id] = frozenset(m.instance_id for m in down)
        for member in down:  # a fresh grace period while the task recreates it
            if member.agent_id:
                self.tracker.last_seen.pop(member.agent_id, None)
        self._event(deployment, "resurrect", f"task {task_id}: unresponsive agents on "
                    f"{', '.join(m.name for m in down)}", task_id)
        return task_id

    def _announce_unresponsive(self, observation: Observation) -> None:
        """One event (and alert) when an agent first passes its timeout; none while the bus
        itself is the problem (the hold says that)."""
        silent = observation.silent if observation.bus_problem is None else frozenset()
        for member in observation.members:
            if member.agent_id in silent - self._reported_silent:
                self._event(member.deployment, "unresponsive",
                            f"{member.name}: agent {member.agent_id} silent for more than "
                            f"{self.config.agent_timeout:g}s")
        self._reported_silent = silent  # an agent heard from again is announced anew next time

    def _event(self, deployment: str | None, action: str, message: str, task_id: int | None = None) -> None:
        log.info("%s %s: %s", action, deployment or "director", message)
        with self.director.sessions.begin() as session:
            session.add(Event(action=action, object_type="deployment" if deployment else "director",
                              object_name=deployment or self.director.config.name,
                              deployment_name=deployment, task_id=task_id, context={"message": message}))
        if self.webhook is not None:
            self.webhook.notify(alert(self.director.config.name, deployment, action, message,
                                      SEVERITIES.get(action, 4)))

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        if self._director_alerts is not None:
            await self._director_alerts.unsubscribe()
        if self.webhook is not None:
            await self.webhook.close()
