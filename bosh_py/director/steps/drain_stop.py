"""Stopping an instance's jobs the way BOSH does: pre-stop, drain, stop, post-stop, all run
by the agent (which waits out what drain scripts ask)."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.mbus.agent_client import AgentTaskFailed

OLD_AGENT_STOP = "Wrong arguments for 'stop'"  # what an agent without stop options answers


async def agent_responds(director: Director, agent_id: str | None, timeout: float = 3.0) -> bool:
    """A quick ping, so a VM being replaced because its agent died is not waited on for
    every RPC's full timeout."""
    if not agent_id:
        return False
    try:
        await director.agent(agent_id).call("ping", timeout=timeout)
        return True
    except BoshPyError:
        return False


async def stop_instance(director: Director, agent_id: str, drain_type: str, debug: Callable[[str], None],
                        tolerate_unresponsive: bool, skip_drain: bool = False, next_spec: dict | None = None,
                        next_state: dict[str, str] | None = None) -> None:
    """The jobs' whole way down, run by the agent: pre-stop, drain (``drain_type``, told
    ``next_spec``; none with `--skip-drain`), stop, post-stop. ``next_state`` says what
    becomes of the VM, instance and deployment ("keep"/"delete"), for pre-stop scripts."""
    agent = director.agent(agent_id)
    if skip_drain:
        debug(f"Skipping drain on agent {agent_id} (--skip-drain)")
    try:
        try:
            await agent.stop(lifecycle=True, skip_drain=skip_drain, drain_type=drain_type, next_spec=next_spec,
                             next_state=next_state)
        except AgentTaskFailed as error:
            if OLD_AGENT_STOP not in str(error):
                raise
            # an agent installed by an older director: its stop takes no options (no pre-stop/post-stop)
            debug(f"Agent {agent_id} predates the stop lifecycle: drain, then stop")
            if not skip_drain:
                await agent.drain(drain_type, next_spec)
            await agent.stop()
    except BoshPyError as error:
        if not tolerate_unresponsive:
            raise
        debug(f"Agent {agent_id} did not stop cleanly ({error}); the VM is being replaced anyway")
