"""Stage "dry run": what the deploy would do to each instance, and why, as Terraform shows
a plan (BOSH does not): create / recreate / restart / update / delete / nothing. No VM is
touched and nothing is written but the task's log and result."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bosh_py.director.changes import describe, needs_vm
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.steps.change import InstanceChange

DRY_RUN_DONE = "Dry run: the manifest plans, renders and validates"


@dataclass(frozen=True)
class PlannedAction:
    instance: str  # group/index
    az: str | None
    action: str
    changes: list[str]


def action_of(change: InstanceChange) -> str:
    if "new" in change.changes:
        return "create"
    if needs_vm(change.changes):
        return "recreate"
    return "restart" if change.plan.state == "started" else "update"


def planned_actions(r: DeployRun) -> list[PlannedAction]:
    actions = [PlannedAction(f"{c.group.name}/{c.plan.index}", c.plan.az, action_of(c), sorted(c.changes))
               for c in r.all_changes()]
    actions += [PlannedAction(f"{row.group}/{row.index}", row.az, "delete", ["obsolete"]) for row in r.obsolete]
    actions += [PlannedAction(name, None, "nothing", []) for name in r.unchanged]
    return actions


def summary(actions: list[PlannedAction]) -> str:
    counts = {kind: sum(1 for a in actions if a.action == kind)
              for kind in ("create", "recreate", "restart", "update", "delete", "nothing")}
    return "Plan: " + ", ".join(f"{count} to {kind}" if kind != "nothing" else f"{count} unchanged"
                                for kind, count in counts.items() if count)


async def run(r: DeployRun) -> None:
    if not r.options.dry_run:
        return
    actions = planned_actions(r)
    r.log.info(DRY_RUN_DONE + "; no VM was touched. The deploy would:")
    for action in actions:
        where = f" ({action.az})" if action.az else ""
        reason = f": {describe(frozenset(action.changes))}" if action.changes else ""
        r.log.info(f"  {action.action:<8} {action.instance}{where}{reason}")
    r.log.info(summary(actions) if actions else "Plan: no instances")
    r.result = json.dumps({"dry_run": True, "message": DRY_RUN_DONE,
                           "instances": [asdict(a) for a in actions]})
