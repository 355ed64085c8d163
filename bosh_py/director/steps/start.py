"""Start the instance's jobs under the agent's supervision."""

from __future__ import annotations

from bosh_py.director.services import Director


async def start_jobs(director: Director, agent_id: str) -> None:
    await director.agent(agent_id).start()
