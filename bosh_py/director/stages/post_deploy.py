"""Stage "post-deploy": each updated, running instance's jobs get their `post-deploy` once
the whole deployment is done (a job without the script is skipped by the agent)."""

from __future__ import annotations

import asyncio

from bosh_py.director.models import Instance
from bosh_py.director.stages.context import DeployRun


async def run(r: DeployRun) -> None:
    agent_ids = []
    with r.director.sessions() as session:
        for change in r.all_changes():
            row = session.get(Instance, change.instance_id)
            if row is not None and row.agent_id and change.plan.state == "started":
                agent_ids.append(row.agent_id)
    await asyncio.gather(*(r.director.agent(agent_id).run_script("post-deploy", {}) for agent_id in agent_ids))
