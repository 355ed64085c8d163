"""The director's DB tests run against SQLite (the default) and a real PostgreSQL server."""

import pytest

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
