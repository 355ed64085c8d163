"""What each agent may do on the bus and in the blobstore, and who may change it.

The API process owns both: its nats-server carries the agents' users, its blobstore server
consults the grants table (blob_grants.py). Tasks run there or in worker processes
(worker.py); a worker changes agent access by asking the API process over the director's
own NATS connection (``RemoteAgentAccess`` -> ``serve_agent_access``), so one owner keeps
both tables. What crosses the bus is the least the API needs: a bcrypt hash, never an
agent's password; a grant's blob ids, never the message (an apply spec) it was made from.
Only the director's NATS user may publish or subscribe there (agents' permissions allow
only their own subjects: mbus/server.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from bosh_py.director.blob_grants import BlobGrants, MessageGrant, grant_for_message
from bosh_py.errors import BoshPyError
from bosh_py.mbus.server import AGENT_BCRYPT_ROUNDS, agent_user, client_url, hash_password, validate_agent_id

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 30.0  # a reload of nats-server's users is confirmed within this (server.py)
MAX_GRANT_BLOBS = 10_000  # an apply names its packages and one templates archive


def access_subject(director_uuid: str) -> str:
    return f"bosh-py.director.{director_uuid}.agent-access"


class AgentAccess(Protocol):
    async def add_agent(self, agent_id: str, password: str) -> None: ...

    async def revoke(self, agent_id: str) -> None:
        """The VM is gone: its agent may read or write no blob and use no NATS subject any more."""

    def agent_url(self, agent_id: str, password: str, host: str) -> str: ...


class LocalAgentAccess:
    """In the API process: the nats-server it runs and its grants table."""

    def __init__(self, nats_server: Any, grants: BlobGrants | None) -> None:
        self.nats_server = nats_server
        self.grants = grants

    async def add_agent(self, agent_id: str, password: str) -> None:
        await asyncio.to_thread(self.nats_server.add_agent, agent_id, password)

    async def revoke(self, agent_id: str) -> None:
        if self.grants is not None:
            self.grants.revoke(agent_id)
        await asyncio.to_thread(self.nats_server.remove_agent, agent_id)

    def agent_url(self, agent_id: str, password: str, host: str) -> str:
        return str(self.nats_server.agent_url(agent_id, password, host=host))


class RemoteAgentAccess:
    """In a worker: the same changes, asked of the API process. Also the grants object a
    worker's AgentClients await (``grant``/``release_upload``)."""

    def __init__(self, nc: Any, director_uuid: str, nats_port: int) -> None:
        self.nc = nc
        self.subject = access_subject(director_uuid)
        self.nats_port = nats_port

    async def _ask(self, request: dict[str, Any]) -> None:
        try:
            msg = await self.nc.request(self.subject, json.dumps(request).encode(), timeout=REQUEST_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - no answer: the API process is down or busy
            raise BoshPyError(f"The director's API process did not answer '{request['op']}' for agent "
                              f"{request.get('agent_id')}: {error or type(error).__name__}") from None
        answer = json.loads(msg.data)
        if not answer.get("ok"):
            raise BoshPyError(f"The director's API process refused '{request['op']}' for agent "
                              f"{request.get('agent_id')}: {answer.get('error')}")

    async def add_agent(self, agent_id: str, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password, AGENT_BCRYPT_ROUNDS)
        await self._ask({"op": "add_agent", "agent_id": agent_id, "hash": hashed})

    async def revoke(self, agent_id: str) -> None:
        await self._ask({"op": "revoke", "agent_id": agent_id})

    def agent_url(self, agent_id: str, password: str, host: str) -> str:
        return client_url(host, self.nats_port, agent_user(agent_id), password)

    async def grant(self, agent_id: str, method: str, args: list[Any]) -> None:
        grant = grant_for_message(method, args)
        if grant is not None:
            await self._ask({"op": "grant", "agent_id": agent_id, "purpose": grant.purpose,
                             "reads": sorted(grant.reads), "upload": grant.upload})

    async def release_upload(self, agent_id: str, blob_id: str) -> None:
        await self._ask({"op": "release_upload", "agent_id": agent_id, "blob_id": blob_id})


def _grant_of(request: dict[str, Any]) -> MessageGrant:
    reads, upload, purpose = request.get("reads"), request.get("upload"), request.get("purpose")
    if not isinstance(purpose, str) or not isinstance(reads, list) or len(reads) > MAX_GRANT_BLOBS:
        raise ValueError("purpose and reads (a list) are required")
    if not all(isinstance(r, str) for r in reads) or not (upload is None or isinstance(upload, str)):
        raise ValueError("blob ids must be strings")
    return MessageGrant(purpose, frozenset(reads), upload)


async def handle(local: LocalAgentAccess, request: Any) -> None:
    """Carry out one worker's request (raises ValueError or MbusError to refuse it)."""
    if not isinstance(request, dict):
        raise ValueError("a JSON object is required")
    op, agent_id = request.get("op"), validate_agent_id(str(request.get("agent_id") or ""))
    if op == "add_agent":
        await asyncio.to_thread(local.nats_server.add_agent_hash, agent_id, str(request.get("hash") or ""))
    elif op == "revoke":
        await local.revoke(agent_id)
    elif op in ("grant", "release_upload") and local.grants is None:
        raise ValueError("this director serves no blobstore")
    elif op == "grant":
        local.grants.apply(agent_id, _grant_of(request))  # type: ignore[union-attr]
    elif op == "release_upload":
        local.grants.withdraw_upload(agent_id, str(request.get("blob_id") or ""))  # type: ignore[union-attr]
    else:
        raise ValueError(f"unknown op {str(op)[:40]!r}")


async def serve_agent_access(nc: Any, director_uuid: str, local: LocalAgentAccess) -> Any:
    """Answer workers' requests on the director-only subject; returns the subscription. Each
    request is answered in a task of its own: a subscription's callbacks run one at a time, and
    agents added by VMs created in parallel must share one nats-server reload."""
    answering: set[asyncio.Task] = set()

    async def on_request(msg: Any) -> None:
        task = asyncio.create_task(answer(msg))
        answering.add(task)
        task.add_done_callback(answering.discard)

    async def answer(msg: Any) -> None:
        try:
            await handle(local, json.loads(msg.data))
            answer: dict[str, Any] = {"ok": True}
        except (ValueError, BoshPyError) as error:
            log.warning("refused an agent access request: %s", error)
            answer = {"ok": False, "error": str(error)[:200]}
        if msg.reply:
            await nc.publish(msg.reply, json.dumps(answer).encode())

    subscription = await nc.subscribe(access_subject(director_uuid), cb=on_request)
    await nc.flush()
    return subscription
