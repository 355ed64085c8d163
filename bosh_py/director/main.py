"""The director daemon: `python -m bosh_py.director.main --config FILE` (or `bosh-py director start`).

Starts its own nats-server for the message bus, opens the state DB (running migrations),
and serves the operator API and the agents' blobstore until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from pathlib import Path

import nats
from aiohttp import web

from bosh_py.agent.bundle import build_agent_bundle
from bosh_py.director import task_kinds
from bosh_py.director.agent_access import serve_agent_access
from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.api import build_app
from bosh_py.director.blob_grants import BlobGrants
from bosh_py.director.blobstore_http import blobstore_app
from bosh_py.director.config import DirectorConfig
from bosh_py.director.cpi_registry import sync_properties
from bosh_py.director.db import open_database
from bosh_py.director.leases import LeaseManager
from bosh_py.director.locks import LockManager
from bosh_py.director.models import Event
from bosh_py.director.orphan_disks import clean_up_forever
from bosh_py.director.private_files import private_dir, secure_data_dir
from bosh_py.director.processes import ProcessRegistry
from bosh_py.director.secrets import load_or_create_secrets
from bosh_py.director.services import Director, open_blobstore
from bosh_py.director.tasks import TaskRunner
from bosh_py.director.worker_pool import WorkerPool
from bosh_py.mbus.agent_client import ReplyRouter
from bosh_py.mbus.server import NatsServer
from bosh_py.mbus.supervisor import NatsSupervisor
from bosh_py.monitor.bus_watch import BusWatch
from bosh_py.monitor.leadership import monitor_while_leading
from bosh_py.monitor.resurrector import Resurrector, bus_grace
from bosh_py.release.isolated_render import RenderProcesses
from bosh_py.ssh.keys import load_or_create_keypair

log = logging.getLogger("bosh_py.director")


async def serve(config: DirectorConfig, config_path: Path | None = None) -> None:
    for directory in (config.data_dir, config.data_dir / "tmp", config.tasks_dir):
        private_dir(directory)
    secrets = load_or_create_secrets(config.secrets_path)
    sessions = open_database(config.database_url)
    sync_properties(config, sessions)  # each CPI of the cpi-config in force has its 0600 config file
    nats_server = NatsServer(config.data_dir / "nats", host=config.nats_listen_host, port=config.nats_port,
                             director_password=secrets.nats_password)
    await asyncio.to_thread(nats_server.start)
    supervising = asyncio.create_task(NatsSupervisor(nats_server, _bus_event_recorder(sessions)).run_forever())

    async def stop_nats() -> None:
        supervising.cancel()  # before the stop, or it would start the server again
        await asyncio.gather(supervising, return_exceptions=True)
        await asyncio.to_thread(nats_server.stop)

    try:
        bus = BusWatch(bus_grace(config.health_monitor))

        async def on_disconnected() -> None:
            log.warning("lost the connection to nats-server; reconnecting")
            bus.disconnected(time.monotonic())

        async def on_reconnected() -> None:
            log.info("reconnected to nats-server")
            bus.reconnected(time.monotonic())

        nc = await nats.connect(servers=[f"nats://127.0.0.1:{config.nats_port}"], user="director",
                                password=secrets.nats_password, max_reconnect_attempts=-1, reconnect_time_wait=1,
                                name="bosh-py-director", disconnected_cb=on_disconnected,
                                reconnected_cb=on_reconnected)
        replies = ReplyRouter(nc, secrets.director_uuid, grants=BlobGrants(config.agent_upload_max_bytes))
        await replies.start()
        processes = ProcessRegistry(sessions, config.lock_ttl)
        processes.register()  # and fails the tasks of director processes that are gone
        tasks = TaskRunner(sessions, config.tasks_dir, processes.name, secrets.director_uuid)
        director = Director(
            config=config, secrets=secrets, sessions=sessions, blobstore=open_blobstore(config),
            tasks=tasks, locks=LockManager(sessions, config.lock_ttl), nats_server=nats_server, nats=nc,
            replies=replies, ssh_key=load_or_create_keypair(config.data_dir / "ssh" / "id_ed25519", "bosh-py-director"),
            agent_bundle=build_agent_bundle(config.data_dir / "agent.pyz"),
            renderers=RenderProcesses(keep_spare=not config.workers),  # workers render otherwise
        )
        director.renderers.start_spare()
        access = await serve_agent_access(nc, secrets.director_uuid, director.access)  # workers' requests
        secure_data_dir(config.data_dir)  # state, config, keys and blobs hold secrets: owner-only
        api = web.AppRunner(build_app(director), access_log=None)
        blobs = web.AppRunner(blobstore_app(director.blobstore, replies.grants,
                                            AgentCredentials.load_or_create(config.agent_blobstore_key_path)),
                              access_log=None)
        await api.setup()
        await blobs.setup()
        # the API last: `director start` takes its answer for "up", so every other port is bound by then
        await web.TCPSite(blobs, config.blobstore_listen_host, config.blobstore_port).start()
        await web.TCPSite(api, config.api_host, config.api_port).start()
    except BaseException:
        # a director that cannot start (a port taken, a bad database) leaves no nats-server behind
        await stop_nats()
        raise
    log.info("director %s listening on http://%s:%d", config.name, config.api_host, config.api_port)
    cleaning = asyncio.create_task(clean_up_forever(director))
    heartbeating = asyncio.create_task(processes.run_forever())
    pool = WorkerPool(config.workers, config_path) if config.workers else None
    working = asyncio.create_task(pool.run_forever() if pool is not None else
                                  tasks.work(lambda claimed: task_kinds.body_for(director, claimed)))
    monitoring = None
    if config.health_monitor.resurrector_enabled:
        leases = LeaseManager(sessions, processes.name, config.lock_ttl)
        monitoring = asyncio.create_task(monitor_while_leading(
            leases, lambda: Resurrector(director, config.health_monitor, bus)))

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("stopping")
    if monitoring is not None:
        monitoring.cancel()
        await asyncio.gather(monitoring, return_exceptions=True)
    cleaning.cancel()
    working.cancel()
    if pool is not None:
        await pool.stop()
    await tasks.stop()
    await director.renderers.close()
    heartbeating.cancel()
    processes.unregister()
    await api.cleanup()
    await blobs.cleanup()
    await access.unsubscribe()
    await replies.close()
    await nc.close()
    await stop_nats()


def _bus_event_recorder(sessions):  # type: ignore[no-untyped-def]
    """The supervisor's reports, as log lines and director events (`bosh-py events`)."""
    def record(action: str, message: str) -> None:
        log.warning("nats-server %s: %s", action, message)
        with sessions.begin() as session:
            session.add(Event(action=action, object_type="nats-server", object_name="mbus",
                              context={"message": message}))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description="bosh-py director daemon")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(DirectorConfig.load(args.config), args.config))


if __name__ == "__main__":
    main()
