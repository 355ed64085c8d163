"""Which blobs each agent may read or write: the one table the agents' blobstore consults.

The director fills it as it sends messages (``AgentClient`` calls ``authorize_message``
just before publishing): ``apply``/``prepare`` let the agent read the blobs its spec names,
``compile_package`` the source and dependency blobs plus one upload of the result id the
director chose, ``fetch_logs`` one upload of the id the director chose. Nothing else is
allowed: an agent never deletes, never writes an id it was not handed, never writes twice,
and never reads another instance's blobs. The table is in memory: a restarted director has
no message in flight, and the next message grants again. Thread-safe, since the HTTP app
and the director may run on different loops in tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bosh_py.director.blobstore import valid_blob_id
from bosh_py.mbus.agent_client import UPLOAD_ARGUMENT

DEFAULT_MAX_UPLOAD_BYTES = 2 << 30


@dataclass(frozen=True)
class MessageGrant:
    """What one agent message allows: a named set of reads (replacing the previous set of
    the same name) and at most one upload."""

    purpose: str
    reads: frozenset[str] = frozenset()
    upload: str | None = None


def _blob_id(value: Any) -> str | None:
    return value if isinstance(value, str) and valid_blob_id(value) else None


def spec_blob_ids(spec: Any) -> frozenset[str]:
    """Blob ids an apply spec names: its packages and its rendered templates archive."""
    if not isinstance(spec, dict):
        return frozenset()
    found = set()
    packages = spec.get("packages")
    for package in (packages.values() if isinstance(packages, dict) else []):
        if isinstance(package, dict) and (blob := _blob_id(package.get("blobstore_id"))):
            found.add(blob)
    archive = spec.get("rendered_templates_archive")
    if isinstance(archive, dict) and (blob := _blob_id(archive.get("blobstore_id"))):
        found.add(blob)
    return frozenset(found)


def grant_for_message(method: str, args: list[Any]) -> MessageGrant | None:
    """What sending ``method(*args)`` to an agent lets it do in the blobstore (pure)."""
    if method in ("apply", "prepare"):
        return MessageGrant(method, spec_blob_ids(args[0] if args else None))
    if method == "compile_package":
        reads = {blob for blob in [_blob_id(args[0] if args else None)] if blob}
        deps = args[4] if len(args) > 4 else None
        for dep in (deps.values() if isinstance(deps, dict) else []):
            if isinstance(dep, dict) and (blob := _blob_id(dep.get("blobstore_id"))):
                reads.add(blob)
        return MessageGrant("compile_package", frozenset(reads), _upload_id(method, args))
    if method == "fetch_logs":
        return MessageGrant("fetch_logs", frozenset(), _upload_id(method, args))
    return None


def _upload_id(method: str, args: list[Any]) -> str | None:
    index = UPLOAD_ARGUMENT[method]
    return _blob_id(args[index]) if len(args) > index else None


@dataclass
class _AgentGrants:
    reads: dict[str, frozenset[str]] = field(default_factory=dict)  # purpose -> blob ids
    uploads: set[str] = field(default_factory=set)


class BlobGrants:
    def __init__(self, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.max_upload_bytes = max_upload_bytes
        self._agents: dict[str, _AgentGrants] = {}
        self._lock = threading.Lock()

    def authorize_message(self, agent_id: str, method: str, args: list[Any]) -> None:
        grant = grant_for_message(method, args)
        if grant is not None:
            self.apply(agent_id, grant)

    def apply(self, agent_id: str, grant: MessageGrant) -> None:
        with self._lock:
            agent = self._agents.setdefault(agent_id, _AgentGrants())
            agent.reads[grant.purpose] = grant.reads
            if grant.upload:
                agent.uploads.add(grant.upload)

    def may_read(self, agent_id: str, blob_id: str) -> bool:
        with self._lock:
            agent = self._agents.get(agent_id)
            return agent is not None and any(blob_id in ids for ids in agent.reads.values())

    def claim_upload(self, agent_id: str, blob_id: str) -> int | None:
        """Use up the agent's one upload of ``blob_id``; its size limit, or None if not granted."""
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is None or blob_id not in agent.uploads:
                return None
            agent.uploads.discard(blob_id)
            return self.max_upload_bytes

    def withdraw_upload(self, agent_id: str, blob_id: str) -> None:
        """The message is over: an upload not made by now will not be accepted later."""
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is not None:
                agent.uploads.discard(blob_id)

    # what AgentClient awaits (agent_access.RemoteAgentAccess answers the same in a worker)
    async def grant(self, agent_id: str, method: str, args: list[Any]) -> None:
        self.authorize_message(agent_id, method, args)

    async def release_upload(self, agent_id: str, blob_id: str) -> None:
        self.withdraw_upload(agent_id, blob_id)

    def revoke(self, agent_id: str) -> None:
        """The agent's VM is gone: it may do nothing more."""
        with self._lock:
            self._agents.pop(agent_id, None)
