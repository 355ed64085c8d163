"""The cloud-check director task: scan (and resolve) one deployment under its lock, then
run the recreates the operator chose, as a deploy restricted to those instances."""

from __future__ import annotations

import json

from bosh_py.director.cck import alerts
from bosh_py.director.cck.problems import IGNORE, choose
from bosh_py.director.cck.resolve import resolve
from bosh_py.director.cck.scan import scan
from bosh_py.director.models import Event
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError

SCAN_DESCRIPTION = "scan cloud"
RESOLVE_DESCRIPTION = "scan and fix"


async def cloud_check(director: Director, ctx: TaskContext, deployment: str, chosen: dict[str, str],
                      auto: bool, resolving: bool, user: str = "unknown") -> str:
    recreate: set[int] = set()
    source = director.config.name
    report = []
    async with director.locks.hold(f"deployment:{deployment}", ctx.id):
        problems = await scan(director, deployment, ctx.log.debug)
        ctx.log.info(f"{len(problems)} problem(s) found in deployment {deployment}")
        await alerts.publish(director.nats, alerts.problems_alert(source, deployment, problems))
        stage = ctx.log.stage("Applying problem resolutions", len(problems)) if resolving else None
        for problem in problems:
            resolution = choose(problem, chosen, auto) if resolving else IGNORE
            if resolving and chosen.get(problem.type, resolution) != resolution:
                ctx.log.info(f"{problem.type} {problem.instance or problem.resource}: {chosen[problem.type]} "
                             f"does not apply here (offered: {', '.join(problem.offered)}); ignored")
            entry = {**problem.as_json(), "resolution": resolution if resolving else None}
            report.append(entry)
            if stage is None:
                ctx.log.info(f"{problem.type}: {problem.description}")
                continue
            with stage.task(f"{problem.type} {problem.instance or problem.resource}: {resolution}"):
                try:
                    if await resolve(director, problem, resolution, ctx.id, ctx.log.debug):
                        recreate.add(problem.instance_id)  # type: ignore[arg-type]  # VM problems name one
                except BoshPyError as error:
                    await alerts.publish(director.nats, alerts.resolution_alert(
                        source, deployment, problem, resolution, ctx.id, str(error)))
                    raise
            if resolution != IGNORE:
                await alerts.publish(director.nats, alerts.resolution_alert(source, deployment, problem,
                                                                            resolution, ctx.id))
                _event(director, ctx.id, deployment, problem.type, resolution, problem.instance, user)
    if recreate:
        from bosh_py.director.jobs.deployment_actions import recreate as recreate_instances

        ctx.log.info(f"recreating {len(recreate)} instance(s)")
        await recreate_instances(director, ctx, deployment, recreate)
    return json.dumps({"deployment": deployment, "problems": report})


def _event(director: Director, task_id: int, deployment: str, kind: str, resolution: str, instance: str | None,
           user: str) -> None:
    with director.sessions.begin() as session:
        session.add(Event(action="resolve problem", object_type="problem", object_name=kind, task_id=task_id,
                          deployment_name=deployment, instance=instance,
                          context={"resolution": resolution, "user": user}))
