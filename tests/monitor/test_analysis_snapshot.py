"""One analysis round judges one snapshot: the deployment locks are read before the
instances, so a task that ends between the two reads (a recreate that just replaced a VM)
cannot make the instances read before it look unlocked and dead."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from bosh_py.director.config import HealthMonitorConfig
from bosh_py.monitor.decisions import Member
from bosh_py.monitor.resurrector import Resurrector

CONFIG = HealthMonitorConfig(agent_timeout=6, minimum_down_jobs=5, percent_threshold=0.9, suspect_after=3)


class TaskEndsBetweenReads(Resurrector):
    """The director's answers scripted: web/1's recreate task holds the deployment's lock
    until the first read of the locks; the instance rows it read before it finished still
    name web/1's old agent, silent since its VM was deleted."""

    def __init__(self, locked_reads: list[frozenset[str]], rows: tuple[Member, ...]) -> None:
        director = SimpleNamespace(nats=SimpleNamespace(is_connected=True),
                                   config=SimpleNamespace(heartbeat_interval=2.0, name="bosh-py"),
                                   nats_server=SimpleNamespace(monitor_url=lambda: None),
                                   cpi=lambda name=None: SimpleNamespace(call=self._has_vm))
        super().__init__(director, CONFIG)  # type: ignore[arg-type]
        self.locked_reads, self.rows, self.started = locked_reads, rows, []
        self.events: list[str] = []

    async def _has_vm(self, method: str, vm_cid: str) -> bool:
        return True  # the CPI still has every VM: only the lock decides

    def locked(self) -> frozenset[str]:
        return self.locked_reads.pop(0) if len(self.locked_reads) > 1 else self.locked_reads[0]

    def members(self) -> tuple[Member, ...]:
        return self.rows

    def paused(self, members: tuple[Member, ...]) -> frozenset[int]:
        return frozenset()

    def recreating(self) -> frozenset[int]:
        return frozenset()

    def _resurrect(self, deployment: str, down: list[Member]) -> int | None:
        self.started.append((deployment, [m.name for m in down]))
        return len(self.started)

    def _event(self, deployment, action, message, task_id=None) -> None:  # type: ignore[no-untyped-def]
        self.events.append(action)


def test_a_task_ending_between_the_reads_recreates_nothing():
    rows = tuple(Member("web", i, f"web/{i}", f"agent-{i}", f"vm-{i}") for i in range(4))
    monitor = TaskEndsBetweenReads([frozenset({"web"}), frozenset()], rows)
    now = time.monotonic()
    for row in rows:
        monitor.tracker.last_seen[row.agent_id] = now
    monitor.tracker.last_seen["agent-1"] = now - 60  # the replaced VM's agent
    assert asyncio.run(monitor.analyze()) == []
    assert monitor.started == []


def test_the_same_silence_without_a_lock_is_recreated():
    """The control: nothing is held back in general, only the lock's own round."""
    rows = tuple(Member("web", i, f"web/{i}", f"agent-{i}", f"vm-{i}") for i in range(4))
    monitor = TaskEndsBetweenReads([frozenset()], rows)
    now = time.monotonic()
    for row in rows:
        monitor.tracker.last_seen[row.agent_id] = now
    monitor.tracker.last_seen["agent-1"] = now - 60
    assert asyncio.run(monitor.analyze()) == [1]
    assert monitor.started == [("web", ["web/1"])]


def test_silence_measured_while_a_task_held_the_deployment_does_not_count():
    """A task released web's lock: web/1's agent (a new VM, tracked from the moment its row
    named it, its heartbeats late while the task busied the host) starts its clock afresh;
    still silent a full timeout later, it is recreated."""
    rows = tuple(Member("web", i, f"web/{i}", f"agent-{i}", f"vm-{i}") for i in range(4))
    monitor = TaskEndsBetweenReads([frozenset({"web"}), frozenset()], rows)
    now = time.monotonic()
    for row in rows:
        monitor.tracker.last_seen[row.agent_id] = now
    monitor.tracker.last_seen["agent-1"] = now - 60
    assert asyncio.run(monitor.analyze()) == []  # the task holds the lock
    assert asyncio.run(monitor.analyze()) == []  # just released: the clock starts now
    assert monitor.started == []
    for row in rows:
        monitor.tracker.last_seen[row.agent_id] = time.monotonic()
    monitor.tracker.last_seen["agent-1"] -= 60  # a minute on, still silent
    assert asyncio.run(monitor.analyze()) == [1]
    assert monitor.started == [("web", ["web/1"])]
