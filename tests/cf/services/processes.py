"""Real processes for the service tests: a throwaway PostgreSQL server on 127.0.0.1 with
password (SCRAM) logins, and the PostgreSQL broker as its job runs it.

The server reuses tests/director/postgres.py (initdb in /tmp, run as an unprivileged user
when we are root, stopped by pg_ctl or by its postmaster's PID, directory removed), adding
a TCP listener on a free loopback port and a superuser password.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cf.cc.plumbing import end_process, vm_python, wait_port
from tests.director.postgres import SUPERUSER, PostgresServer, _server_user, find_bindir
from tests.harness import free_port


class TcpPostgres(PostgresServer):
    """Listens on 127.0.0.1:<port>; local socket logins are trusted, TCP ones need a password."""

    def __init__(self, bindir: Path, base: Path, user: Any) -> None:
        super().__init__(bindir, base, user)
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)

    def start(self) -> None:
        import os
        if self.user is not None:
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth-local=trust",
                 "--auth-host=scram-sha-256", "--no-locale", "--encoding=UTF8", "--no-sync", "--no-instructions")
        with open(self.data / "pg_hba.conf", "w") as hba:
            hba.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# bosh-py service tests: loopback TCP with passwords, durability traded for speed\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.base}'\n"
                "password_encryption = 'scram-sha-256'\nlog_min_error_statement = error\n"
                "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n")
        self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30")
        with self.connect() as c:
            c.execute(f"ALTER ROLE {SUPERUSER} PASSWORD '{self.password}'")

    def connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        """As the superuser over the Unix socket (trusted): the test's own view."""
        import psycopg
        return psycopg.connect(host=str(self.base), port=self.port, user=SUPERUSER, dbname=database,
                               autocommit=True)

    def databases(self) -> set[str]:
        with self.connect() as c:
            return {r[0] for r in c.execute("SELECT datname FROM pg_database")}

    def roles(self) -> set[str]:
        with self.connect() as c:
            return {r[0] for r in c.execute("SELECT rolname FROM pg_roles")}


@contextmanager
def tcp_postgres() -> Iterator[TcpPostgres]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl, postgres)")
    server = TcpPostgres(bindir, Path(tempfile.mkdtemp(prefix="bosh-py-pgs-")), _server_user())
    try:
        server.start()
        yield server
    finally:
        import shutil
        try:
            server.stop()
        finally:
            shutil.rmtree(server.base, ignore_errors=True)


@dataclass
class BrokerProcess:
    url: str
    username: str
    password: str
    config: dict
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_broker(workdir: Path, pg: TcpPostgres, **overrides: Any) -> BrokerProcess:
    """``python3 -S -m cf_platform.postgres_broker`` with only cf_platform on its path, as on a VM."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {"bind": "127.0.0.1", "port": port, "username": "broker", "password": secrets.token_urlsafe(12),
              "postgres": {"host": "127.0.0.1", "port": pg.port, "admin_user": SUPERUSER,
                           "admin_password": pg.password}, "log_level": "DEBUG"}
    config.update(overrides)
    path = workdir / "broker.json"
    path.write_text(json.dumps(config))
    log_path = workdir / "broker.log"
    python, env = vm_python(workdir)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([*python, "-m", "cf_platform.postgres_broker", "--config", str(path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_port(port, proc=proc)
    except Exception:
        end_process(proc)
        raise
    return BrokerProcess(f"http://127.0.0.1:{port}", config["username"], config["password"], config, proc, log_path)
