"""The agent's one exception type: its message goes back to the director verbatim as
``{"exception": {"message": ...}}``, so it must say what failed and why."""

from bosh_py.errors import BoshPyError


class AgentActionError(BoshPyError):
    """An action failed in a way the operator should read (bad spec, script failed, ...)."""
