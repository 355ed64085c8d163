"""The director's DB tests run against SQLite (the default) and a real PostgreSQL server."""

from pathlib import Path

import pytest

from bosh_py.director.blobstore import LocalBlobstore
from bosh_py.director.config import CpiConfig, DirectorConfig
from bosh_py.director.db import open_database
from bosh_py.director.locks import LockManager
from bosh_py.director.secrets import load_or_create_secrets
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskRunner
from bosh_py.mbus.server import NatsServer
from bosh_py.ssh.keys import load_or_create_keypair
from tests.harness import free_port
from tests.director.postgres import PostgresServer, find_bindir, running_postgres


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the whole session, stopped and removed at its end."""
    if find_bindir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under "
                    "/usr/lib/postgresql/*/bin; install Debian's postgresql package (scripts/setup does)")
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A URL of a new, empty state DB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'director.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def make_director(tmp_path):
    """Build an in-process director on SQLite with a real blobstore, task runner, lock manager
    and nats-server on loopback, driving the CPI executable given; no API, no agent RPC
    (``nats``/``replies`` stay None): for review-fix tests of one director code path."""
    started: list[NatsServer] = []

    def build(cpi_executable: str, cpi_config: Path | None = None) -> Director:
        data_dir = tmp_path / "director"
        for directory in (data_dir / "tmp", data_dir / "tasks"):
            directory.mkdir(parents=True, exist_ok=True)
        config = DirectorConfig(data_dir=data_dir, agent_endpoint_host="127.0.0.1", nats_port=free_port(),
                                cpi=CpiConfig(executable=cpi_executable,
                                              config_path=str(cpi_config) if cpi_config else None))
        director_secrets = load_or_create_secrets(config.secrets_path)
        sessions = open_database(config.database_url)
        nats_server = NatsServer(data_dir / "nats", host="127.0.0.1", port=config.nats_port,
                                 director_password=director_secrets.nats_password)
        nats_server.start()
        started.append(nats_server)
        return Director(config=config, secrets=director_secrets, sessions=sessions,
                        blobstore=LocalBlobstore(config.blobstore_dir), tasks=TaskRunner(sessions, config.tasks_dir),
                        locks=LockManager(sessions, config.lock_ttl), nats_server=nats_server, nats=None,
                        replies=None, ssh_key=load_or_create_keypair(data_dir / "ssh" / "id_ed25519", "test"),
                        agent_bundle=data_dir / "agent.pyz")

    yield build
    for server in started:
        server.stop()
