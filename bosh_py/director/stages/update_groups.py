"""Stage "update instance groups": each group's changed instances in the order of
rollout.py (canaries, then each AZ in batches of max_in_flight); the first failure stops
the rollout, so instances not yet reached keep running what they ran. Groups go one after
another in the manifest's order; consecutive groups whose ``update.serial`` is false go
together (BOSH's rule)."""

from __future__ import annotations

from bosh_py.director.concurrency import await_all
from bosh_py.director.instance_updater import update_instance
from bosh_py.director.planner import GroupPlan
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.stages.rollout import Batch, rollout_batches
from bosh_py.director.steps.change import InstanceChange


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

    async def update_one(change: InstanceChange, canary: bool) -> None:
        label = f"{change.plan.name} ({change.plan.index}){' (canary)' if canary else ''}"
        watch = group.update.canary_watch_time if canary else group.update.update_watch_time
        with stage.task(label):
            await update_instance(r.director, change, r.name, watch, r.log.debug, skip_drain=r.options.skip_drain)

    for number, batch in enumerate(group_batches(group, changes), start=1):
        r.log.debug(describe_batch(group, number, batch))
        await await_all(update_one(change, batch.canary) for change in batch.members)


async def run(r: DeployRun) -> None:
    assert r.plan is not None
    for together in partitions(r.plan.groups):
        await await_all(update_group(r, group) for group in together)
