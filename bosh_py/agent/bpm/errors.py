"""bpm's error type: the message is what the operator reads on the CLI or in the task log."""

from bosh_py.agent.errors import AgentActionError


class BpmError(AgentActionError):
    """A bpm command failed (bad config, a container that could not start, ...)."""
