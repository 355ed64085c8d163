"""NATS plumbing shared by director, agent and health monitor.

- ``server.NatsServer``: the director's nats-server process, per-agent users/permissions.
- ``agent_client.AgentClient`` / ``ReplyRouter``: director -> agent RPC (BOSH protocol 3).
- ``urls``: mbus URL helpers (``connect_options`` for nats-py, ``redact`` for logs).
- ``errors``: ``MbusError``, ``AgentError``, ``AgentTimeoutError``.
"""
