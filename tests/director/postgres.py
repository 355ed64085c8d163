"""A real, throwaway PostgreSQL server for tests.

``running_postgres()`` runs initdb into a fresh temp dir, starts the server listening only on a
Unix socket in that dir (no TCP at all) with trust auth, and always stops it (``pg_ctl stop -m
fast``, then a kill of the postmaster it started if that fails) and removes the dir, even when
the code inside the ``with`` fails. PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` system user (or ``nobody``) and the temp dir is chowned to it.

The binaries come from PATH or ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql``
package); ``find_bindir()`` returns None when there are none, and the fixture skips.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SUPERUSER = "postgres"
TOOLS = ("initdb", "pg_ctl", "postgres")


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)  # /usr/local/bin/initdb may be a symlink

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in TOOLS):
            return bindir
    return None


def _server_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: None (ourselves) unless we are root, which postgres refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL as")


class PostgresServer:
    def __init__(self, bindir: Path, base: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.base = base  # holds data/, the socket and server.log
        self.user = user
        self.data = base / "data"
        self.log = base / "server.log"
        self._names = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.base}"

    def connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(host=str(self.base), user=SUPERUSER, dbname=database, autocommit=True)

    def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"test_{next(self._names)}"
        with self.connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def run(self, tool: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        as_user = {}
        if self.user is not None:
            as_user = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        result = subprocess.run(
            [str(self.bindir / tool), *args], cwd=self.base, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, **as_user,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                + (f"\nserver log:\n{log}" if log else "")
            )

    def start(self) -> None:
        if self.user is not None:
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-locale",
                 "--encoding=UTF8", "--no-sync", "--no-instructions")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# bosh-py test server: Unix socket only, durability traded for speed\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.base}'\n"
                "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
            )
        self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30")

    def stop(self) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        try:
            self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30")
        except (RuntimeError, subprocess.TimeoutExpired):
            _kill(pid)  # the postmaster we started, by its PID


def alive(pid: int) -> bool:
    """Whether the process runs; an exited one that nobody reaped yet (a zombie) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _kill(pid: int) -> None:
    try:  # only the postmaster we started: a stale pid file's PID may since belong to another process
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
    except OSError:
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):  # SIGQUIT: postgres' immediate shutdown
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)


@contextmanager
def running_postgres(bindir: Path | None = None) -> Iterator[PostgresServer]:
    bindir = bindir or find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl, postgres)")
    # mkdtemp in /tmp (not pytest's root-only tmp dir) so the unprivileged server can reach it;
    # the path stays short enough for the socket's name.
    server = PostgresServer(bindir, Path(tempfile.mkdtemp(prefix="bosh-py-pg-")), _server_user())
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.base, ignore_errors=True)
