"""Run the jobs' post-start scripts once they run (a job without one is skipped by the agent)."""

from __future__ import annotations

from bosh_py.director.services import Director


async def post_start(director: Director, agent_id: str) -> None:
    await director.agent(agent_id).run_script("post-start", {})
