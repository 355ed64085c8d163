"""Which agents hold a connection to the director's nats-server right now, from its
monitoring endpoint (``/connz`` on loopback; mbus/server.py turns it on).

A VM that dies closes its agent's TCP connection at once (the kernel does, for the dead
process), so the server drops it within milliseconds, long before a heartbeat is missed
for good. A live agent that loses its connection reconnects within a second. So "silent
and not connected" is direct evidence of a dead agent, where silence alone is only a
guess. A cut network keeps the connection listed (no FIN arrives), which is the right
side to err on. Any failure to ask returns None: no evidence either way.
"""

from __future__ import annotations

import logging

import aiohttp

from bosh_py.mbus.server import agent_user

log = logging.getLogger(__name__)

CONNZ_LIMIT = 100000  # more connections than one director has agents


def connected_users(connz: dict) -> set[str]:
    return {str(c.get("authorized_user")) for c in connz.get("connections") or [] if c.get("authorized_user")}


def disconnected(agent_ids: set[str], users: set[str]) -> frozenset[str]:
    """The agents among ``agent_ids`` with no connection under their own NATS user."""
    return frozenset(a for a in agent_ids if agent_user(a) not in users)


async def fetch_connected_users(monitor_url: str | None, timeout: float = 2.0) -> set[str] | None:
    if monitor_url is None:
        return None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(f"{monitor_url}/connz", params={"auth": "true", "limit": str(CONNZ_LIMIT)}) as r:
            if r.status != 200:
                return None
            return connected_users(await r.json())
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("cannot read nats-server connections: %s", type(error).__name__)
        return None
