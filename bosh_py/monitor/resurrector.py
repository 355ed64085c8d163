"""The health monitor inside the director: heartbeats in, recreate tasks out.

Agents heartbeat on ``hm.agent.heartbeat.<agent_id>``. Every ``analysis_interval`` seconds the
monitor compares the agents it heard from with the instances the director expects to run;
an instance whose agent is unresponsive is recreated by a task (a deploy restricted to it,
keeping its IP and persistent disk), unless its deployment is locked (a deploy is
changing it) or in meltdown. Each decision is recorded as an event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select

from bosh_py.director.config import HealthMonitorConfig
from bosh_py.director.models import Deployment, Event
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.monitor.agents import AgentTracker
from bosh_py.monitor.meltdown import in_meltdown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watched:
    deployment: str
    instance_id: int
    name: str  # group/uuid
    agent_id: str


class Resurrector:
    def __init__(self, director: Director, config: HealthMonitorConfig) -> None:
        self.director = director
        self.config = config
        self.tracker = AgentTracker(config.agent_timeout)
        self._subscription = None
        self._in_meltdown: set[str] = set()  # deployments whose meltdown was already recorded

    async def start(self) -> None:
        async def on_heartbeat(msg) -> None:  # type: ignore[no-untyped-def]
            agent_id = msg.subject.rsplit(".", 1)[-1]
            try:
                payload = json.loads(msg.data)
            except ValueError:
                return
            self.tracker.heartbeat(agent_id, payload, time.monotonic())

        self._subscription = await self.director.nats.subscribe("hm.agent.heartbeat.*", cb=on_heartbeat)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.analysis_interval)
            try:
                await self.analyze()
            except Exception:  # the monitor must outlive any one bad round
                log.exception("health analysis failed")

    def watched(self) -> list[Watched]:
        """Instances that should be running with an agent: started, with a VM."""
        with self.director.sessions() as session:
            return [Watched(d.name, i.id, f"{i.group}/{i.uuid}", i.agent_id)
                    for d in session.scalars(select(Deployment)) for i in d.instances
                    if i.agent_id and i.vm_cid and i.state == "started"]

    async def analyze(self) -> list[int]:
        """One round; returns the ids of the tasks it started."""
        now = time.monotonic()
        watched = self.watched()
        self.tracker.track({w.agent_id for w in watched}, now)
        dead = self.tracker.unresponsive(now)
        locked = {lock.name.split(":", 1)[-1] for lock in self.director.locks.active()}
        tasks = []
        for deployment in sorted({w.deployment for w in watched}):
            members = [w for w in watched if w.deployment == deployment]
            down = [w for w in members if w.agent_id in dead]
            if not down:
                self._in_meltdown.discard(deployment)
                continue
            if deployment in locked:
                continue
            if in_meltdown(len(down), len(members), self.config.minimum_down_jobs, self.config.percent_threshold):
                if deployment not in self._in_meltdown:  # one event per episode, not one per round
                    self._in_meltdown.add(deployment)
                    self._event(deployment, "meltdown", f"{len(down)} of {len(members)} instances "
                                "unresponsive: not resurrecting")
                continue
            tasks.append(self._resurrect(deployment, down))
        return [task_id for task_id in tasks if task_id is not None]

    def _resurrect(self, deployment: str, down: list[Watched]) -> int | None:
        from bosh_py.director.jobs.deployment_actions import recreate_body

        try:
            body = recreate_body(self.director, deployment, {w.instance_id for w in down})
        except BoshPyError as error:
            self._event(deployment, "resurrect", f"cannot plan the recreate: {error}")
            return None
        task_id = self.director.tasks.submit(f"scan and fix: recreate {', '.join(w.name for w in down)}",
                                             deployment, body)
        for watched in down:  # a fresh grace period while the task recreates it
            self.tracker.last_seen.pop(watched.agent_id, None)
        self._event(deployment, "resurrect", f"task {task_id}: unresponsive agents on "
                    f"{', '.join(w.name for w in down)}", task_id)
        return task_id

    def _event(self, deployment: str, action: str, message: str, task_id: int | None = None) -> None:
        log.info("%s %s: %s", action, deployment, message)
        with self.director.sessions.begin() as session:
            session.add(Event(action=action, object_type="deployment", object_name=deployment,
                              deployment_name=deployment, task_id=task_id, context={"message": message}))

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
