"""Stage "update instance groups": each group's changed instances in the order of
rollout.py (canaries, then each AZ in batches of max_in_flight); the first failure stops
the rollout, so instances not yet reached keep running what they ran. While a batch is
watched, the next batch's agents fetch their new jobs (steps/prepare_ahead.py: nothing that
runs is touched, and what a stopped rollout never used is deleted). Groups go one after
another in the manifest's order; consecutive groups whose ``update.serial`` is false go
together (BOSH's rule). "Timing" debug lines give the time before the rollout began (plan,
render, compile, decide: since the task started), each batch's and the whole rollout's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bosh_py.director.concurrency import await_all
from bosh_py.director.instance_updater import update_instance
from bosh_py.director.models import Task, utcnow
from bosh_py.director.planner import GroupPlan
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.stages.rollout import Batch, rollout_batches
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.prepare_ahead import discard_prepared, prepare_ahead


def partitions(groups: list[GroupPlan]) -> list[list[GroupPlan]]:
    """Groups updated together: a serial group alone, a run of non-serial groups at once."""
    result: list[list[GroupPlan]] = []
    for group in groups:
        if not group.update.serial and result and not result[-1][0].update.serial:
            result[-1].append(group)
        else:
            result.append([group])
    return result


def group_batches(group: GroupPlan, changes: list[InstanceChange]) -> list[Batch[InstanceChange]]:
    azs: list[str | None] = list(dict.fromkeys(i.az for i in group.instances))
    return rollout_batches([(c.plan.az, c.plan.index, c) for c in changes], azs,
                           group.update.canaries, group.update.max_in_flight)


def describe_batch(group: GroupPlan, number: int, batch: Batch[InstanceChange]) -> str:
    kind = "canary" if batch.canary else f"batch {number}"
    members = ", ".join(f"{c.group.name}/{c.plan.index}" for c in batch.members)
    return f"Rollout of {group.name}: {kind} (az {batch.az or '-'}): {members}"


async def update_group(r: DeployRun, group: GroupPlan) -> None:
    changes = r.changes_by_group.get(group.name) or []
    if not changes:
        return
    stage = r.log.stage("Updating instance", len(changes), [group.name])

    async def update_one(change: InstanceChange, canary: bool, ready: Callable[[], None]) -> None:
        label = f"{change.plan.name} ({change.plan.index}){' (canary)' if canary else ''}"
        watch = group.update.canary_watch_time if canary else group.update.update_watch_time
        try:
            with stage.task(label):
                await update_instance(r.director, change, r.name, watch, r.log.debug,
                                      skip_drain=r.options.skip_drain, watching=ready)
        finally:
            ready()

    batches = group_batches(group, changes)
    ahead: list[asyncio.Task] = []

    def prepare_next(members: tuple[InstanceChange, ...]) -> Callable[[], None]:
        def begin() -> None:
            if members:
                ahead.append(asyncio.create_task(
                    await_all(prepare_ahead(r.director, change, r.log.debug) for change in members)))
        return begin

    try:
        for number, batch in enumerate(batches, start=1):
            if ahead:
                await ahead.pop()  # mostly done long ago, during the previous watch
            r.log.debug(describe_batch(group, number, batch))
            # once every member of this batch is being watched, the next batch's agents fetch ahead
            ready = OnceAll(len(batch.members), prepare_next(batches[number].members if number < len(batches) else ()))
            started = time.perf_counter()
            await await_all(update_one(change, batch.canary, ready.member()) for change in batch.members)
            r.log.debug(f"Timing {group.name} {'canary' if batch.canary else 'batch'} {number}: "
                        f"{time.perf_counter() - started:.3f} s")
    finally:
        for task in ahead:
            await asyncio.gather(task, return_exceptions=True)
        discard_prepared(r.director, changes)


class OnceAll:
    """Calls ``action`` once every one of ``count`` members has said it is ready; each
    member's readiness counts once however often it is reported."""

    def __init__(self, count: int, action: Callable[[], None]) -> None:
        self.left = count
        self.action = action

    def member(self) -> Callable[[], None]:
        said = False

        def ready() -> None:
            nonlocal said
            if said:
                return
            said = True
            self.left -= 1
            if self.left == 0:
                self.action()
        return ready


def seconds_since_task_start(r: DeployRun) -> float | None:
    with r.director.sessions() as session:
        task = session.get(Task, r.ctx.id)
        return (utcnow() - task.started_at).total_seconds() if task is not None else None


async def run(r: DeployRun) -> None:
    assert r.plan is not None
    if r.changes_by_group:
        before = seconds_since_task_start(r)
        if before is not None:
            r.log.debug(f"Timing before rollout: {before:.3f} s (plan, render, compile, decide; "
                        f"began at {time.time() - before:.3f})")
    started = time.perf_counter()
    for together in partitions(r.plan.groups):
        await await_all(update_group(r, group) for group in together)
    if r.changes_by_group:
        r.log.debug(f"Timing rollout: {time.perf_counter() - started:.3f} s (ended at {time.time():.3f})")
