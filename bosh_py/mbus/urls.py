"""NATS URL helpers for the director side; the one implementation lives with the agent
(stdlib only, shipped in its bundle)."""

from bosh_py.agent.natsurl import connect_options, redact

__all__ = ["connect_options", "redact"]
