"""The director's long-lived parts, built once at start and handed to tasks and the API.

Passing this one object around (instead of module globals) keeps every task testable and
makes explicit what a task may touch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.agent_access import AgentAccess, LocalAgentAccess
from bosh_py.director.blobstore import Blobstore, LocalBlobstore
from bosh_py.director.concurrency import vm_pool
from bosh_py.director.config import DirectorConfig, S3BlobstoreConfig
from bosh_py.director.cpi_client import CpiClient
from bosh_py.director.cpi_registry import resolve
from bosh_py.director.locks import LockManager
from bosh_py.director.models import DEFAULT_CPI
from bosh_py.director.secrets import DirectorSecrets
from bosh_py.director.tasks import TaskRunner
from bosh_py.release.isolated_render import RenderProcesses
from bosh_py.ssh.keys import KeyPair


def open_blobstore(config: DirectorConfig) -> Blobstore:
    """The blobstore ``config.blobstore`` names; an S3 bucket is checked now, so a director
    with a wrong endpoint, bucket or key stops at start saying which."""
    if isinstance(config.blobstore, S3BlobstoreConfig):
        from bosh_py.director.blobstore_s3 import S3Blobstore  # boto3 only when configured

        store = S3Blobstore(config.blobstore, config.blobstore_cache_dir)
        store.check()
        return store
    return LocalBlobstore(config.blobstore_dir)


@dataclass
class Director:
    config: DirectorConfig
    secrets: DirectorSecrets
    sessions: sessionmaker[Session]
    blobstore: Blobstore
    tasks: TaskRunner
    locks: LockManager
    nats_server: Any  # bosh_py.mbus.server.NatsServer
    nats: Any  # nats.aio.client.Client, connected as the director
    replies: Any  # bosh_py.mbus.agent_client.ReplyRouter: one subscription for all agent replies
    ssh_key: KeyPair
    agent_bundle: Path
    # who changes agents' NATS users and blob grants: the API process's own (the default, over
    # nats_server and replies' grants) or, in a worker, a RemoteAgentAccess (agent_access.py)
    agent_access: AgentAccess | None = None
    vm_threads: ThreadPoolExecutor = field(default_factory=vm_pool)  # SSH bootstraps (concurrency.py)
    # template rendering processes; the daemons keep one started ahead (isolated_render.py)
    renderers: RenderProcesses = field(default_factory=RenderProcesses)

    def __post_init__(self) -> None:
        if self.agent_access is None:
            self.agent_access = LocalAgentAccess(self.nats_server, getattr(self.replies, "grants", None))

    @property
    def access(self) -> AgentAccess:
        assert self.agent_access is not None
        return self.agent_access

    @property
    def uuid(self) -> str:
        return self.secrets.director_uuid

    def cpi(self, debug: Callable[[str], None] = lambda _line: None, name: str = DEFAULT_CPI) -> CpiClient:
        """The client of the CPI called ``name``: for an existing VM, disk or stemcell copy,
        always the one its row records (cpi_registry.py)."""
        target = resolve(self.config, self.sessions, name)
        return CpiClient(target.executable, target.config_path, self.uuid, debug)

    def agent(self, agent_id: str) -> Any:
        return self.replies.client(agent_id, timeout=self.config.rpc_timeout)

    @property
    def blobstore_url_for_agents(self) -> str:
        return f"http://{self.config.agent_endpoint_host}:{self.config.blobstore_port}"
