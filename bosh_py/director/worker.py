"""A director worker: `python -m bosh_py.director.worker --config FILE` (or `bosh-py director worker`).

Runs queued tasks (tasks.py), one at a time as BOSH's workers do, beside an API process that
shares its database and blobstore. The API process (main.py) starts ``workers`` of them with
``director start --workers N`` and restarts one that dies; one started by hand may run on
another machine, given the director's config (with a PostgreSQL ``db_url``, an S3 blobstore
and ``worker_nats_host``), its secrets, SSH key and agent blobstore key, and a task log
directory the API process reads too.

A worker owns no agent-facing state: agents' NATS users and blob grants are changed by the
API process on its behalf (agent_access.py), and it hears agents' replies on a reply
subject of its own. It registers as a director process (processes.py): killed mid-task, its
row lapses and another process fails its task with the reason and releases its locks.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import signal
from pathlib import Path

import nats

from bosh_py.agent.bundle import build_agent_bundle
from bosh_py.director import task_kinds
from bosh_py.director.agent_access import RemoteAgentAccess
from bosh_py.director.config import DirectorConfig
from bosh_py.director.cpi_registry import sync_properties
from bosh_py.director.db import open_database
from bosh_py.director.locks import LockManager
from bosh_py.director.processes import ProcessRegistry
from bosh_py.director.secrets import DirectorSecrets, load_or_create_secrets
from bosh_py.director.services import Director, open_blobstore
from bosh_py.director.tasks import TaskRunner
from bosh_py.errors import BoshPyError
from bosh_py.mbus.agent_client import ReplyRouter
from bosh_py.release.isolated_render import RenderProcesses
from bosh_py.ssh.keys import load_or_create_keypair

log = logging.getLogger("bosh_py.director.worker")

WORKER_MODULE = "bosh_py.director.worker"
SLOTS = 1  # tasks a worker runs at once


def reply_token(secrets: DirectorSecrets, process_name: str) -> str:
    """The subject token agents answer this worker on (``director.<token>.<agent>.<id>``):
    its own, so a worker hears only its own replies. Agents may publish to any token there,
    but only under their own agent id (mbus/server.py)."""
    return f"{secrets.director_uuid}-{process_name[:12]}"


async def serve_worker(config: DirectorConfig, slots: int = SLOTS) -> None:
    if not config.secrets_path.exists():
        raise BoshPyError(f"{config.secrets_path}: missing; a worker uses the director's secrets "
                          "(start the director first, or copy its data directory's secrets)")
    secrets = load_or_create_secrets(config.secrets_path)
    sessions = open_database(config.database_url)
    sync_properties(config, sessions)  # a worker on another machine writes its CPIs' config files too
    processes = ProcessRegistry(sessions, config.lock_ttl)
    nc = await nats.connect(servers=[f"nats://{config.worker_nats_host}:{config.nats_port}"], user="director",
                            password=secrets.nats_password, max_reconnect_attempts=-1, reconnect_time_wait=1,
                            name=f"bosh-py-worker-{processes.name[:12]}")
    access = RemoteAgentAccess(nc, secrets.director_uuid, config.nats_port)
    replies = ReplyRouter(nc, reply_token(secrets, processes.name), grants=access)
    await replies.start()
    processes.register()
    tasks = TaskRunner(sessions, config.tasks_dir, processes.name, secrets.director_uuid)
    director = Director(
        config=config, secrets=secrets, sessions=sessions, blobstore=open_blobstore(config), tasks=tasks,
        locks=LockManager(sessions, config.lock_ttl), nats_server=None, nats=nc, replies=replies,
        ssh_key=load_or_create_keypair(config.data_dir / "ssh" / "id_ed25519", "bosh-py-director"),
        agent_bundle=build_agent_bundle(config.data_dir / "agent.pyz"), agent_access=access,
        renderers=RenderProcesses(keep_spare=True))
    director.renderers.start_spare()
    log.info("worker %s (pid of its row: %d) taking tasks", processes.name, processes.identity.pid)
    heartbeating = asyncio.create_task(processes.run_forever())
    working = asyncio.create_task(tasks.work(lambda claimed: task_kinds.body_for(director, claimed), slots))

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("worker %s stopping", processes.name)
    working.cancel()
    await tasks.stop()
    await director.renderers.close()
    heartbeating.cancel()
    processes.unregister()
    await replies.close()
    await nc.close()


def die_with_parent() -> None:
    """For the workers the API process starts: end when it ends, however it ends
    (PR_SET_PDEATHSIG), so a killed director leaves no worker behind."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> None:
    parser = argparse.ArgumentParser(description="bosh-py director worker")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve_worker(DirectorConfig.load(args.config)))


if __name__ == "__main__":
    main()
