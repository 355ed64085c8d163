"""Errors of the message bus layer, so callers can tell a bus problem (server will not
start, agent silent, agent refused) from their own failures."""

from bosh_py.errors import BoshPyError


class MbusError(BoshPyError):
    """The NATS server could not be managed (start, reload, stop) or a client could not
    reach it."""


class AgentError(BoshPyError):
    """An agent answered a request with ``{"exception": {"message": ...}}``; ``str(e)`` is
    the agent's message, so it reads as the cause of the failed step."""


class AgentTimeoutError(AgentError):
    """An agent did not answer in time. A subclass of ``AgentError`` so a caller that only
    cares "did the agent do it" catches one type, while the health logic can tell silence
    (unresponsive agent) from a refusal."""
