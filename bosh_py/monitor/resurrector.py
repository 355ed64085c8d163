"""The health monitor inside the director: heartbeats in, recreate tasks out.

Agents heartbeat on ``hm.agent.heartbeat.<agent_id>``. Every ``analysis_interval`` seconds the
monitor gathers what it knows (instances expected to run, silent agents, locks, recreates
in flight, the director's own bus state) and lets ``decisions.decide`` say what to do: an
instance whose agent is unresponsive is recreated by a task (a deploy restricted to it,
keeping its IP and persistent disk) unless one of the hold-back rules applies. Each
decision is recorded as an event. Runs on the director's event loop.
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
from bosh_py.monitor.agents import AgentTracker
from bosh_py.monitor.bus_watch import BusWatch
from bosh_py.monitor.decisions import MASS_SILENCE_EPISODE, Member, Observation, Rules, decide

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
        self._open_episodes: frozenset[str] = frozenset()
        self._recreates: dict[int, frozenset[int]] = {}  # task id -> instance ids it recreates

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
            return tuple(Member(d.name, i.id, f"{i.group}/{i.uuid}", i.agent_id if i.vm_cid else None)
                         for d in session.scalars(select(Deployment)) for i in d.instances
                         if i.state == "started")

    def recreating(self) -> frozenset[int]:
        """Instances whose recreate task (ours) is still queued or running."""
        running = self.director.tasks.running
        self._recreates = {task_id: ids for task_id, ids in self._recreates.items() if task_id in running}
        return frozenset(i for ids in self._recreates.values() for i in ids)

    def observe(self, now: float) -> Observation:
        members = self.members()
        self.tracker.track({m.agent_id for m in members if m.agent_id}, now)
        locked = frozenset(lock.name.split(":", 1)[-1] for lock in self.director.locks.active())
        connected = bool(getattr(self.director.nats, "is_connected", True))
        confirm_after = float(getattr(self.director.config, "heartbeat_interval", 0))
        return Observation(members, frozenset(self.tracker.unresponsive(now)), locked, self.recreating(),
                           self.bus.problem(now, connected),
                           frozenset(self.tracker.unresponsive(now, longer_by=confirm_after)))

    async def analyze(self) -> list[int]:
        """One round; returns the ids of the tasks it started."""
        now = time.monotonic()
        observation = self.observe(now)
        decision = decide(observation, self.rules, self._open_episodes)
        if MASS_SILENCE_EPISODE in decision.open_episodes and observation.bus_problem is None:
            self.bus.mass_silence(now)  # hold on until the stragglers heartbeat again
        self._open_episodes = decision.open_episodes
        for note in decision.notes:
            self._event(note.deployment, note.action, note.message)
        started = [self._resurrect(deployment, list(down)) for deployment, down in decision.resurrect.items()]
        return [task_id for task_id in started if task_id is not None]

    def _resurrect(self, deployment: str, down: list[Member]) -> int | None:
        from bosh_py.director.jobs.deployment_actions import recreate_body

        try:
            body = recreate_body(self.director, deployment, {m.instance_id for m in down})
        except BoshPyError as error:
            self._event(deployment, "resurrect", f"cannot plan the recreate: {error}")
            return None
        task_id = self.director.tasks.submit(f"scan and fix: recreate {', '.join(m.name for m in down)}",
                                             deployment, body)
        self._recreates[task_id] = frozenset(m.instance_id for m in down)
        for member in down:  # a fresh grace period while the task recreates it
            if member.agent_id:
                self.tracker.last_seen.pop(member.agent_id, None)
        self._event(deployment, "resurrect", f"task {task_id}: unresponsive agents on "
                    f"{', '.join(m.name for m in down)}", task_id)
        return task_id

    def _event(self, deployment: str | None, action: str, message: str, task_id: int | None = None) -> None:
        log.info("%s %s: %s", action, deployment or "director", message)
        with self.director.sessions.begin() as session:
            session.add(Event(action=action, object_type="deployment" if deployment else "director",
                              object_name=deployment or self.director.config.name,
                              deployment_name=deployment, task_id=task_id, context={"message": message}))

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
