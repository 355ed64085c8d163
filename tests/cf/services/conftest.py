"""Fixtures: one throwaway PostgreSQL server and one PostgreSQL broker process per module;
the CC, nats-server and DEA stand-in come from tests/cf/conftest.py."""

from __future__ import annotations

import pytest

from tests.cf.cc.plumbing import end_process, login
from tests.cf.client.conftest import app_dir, cf  # noqa: F401  (cf-py fixtures, shared with tests/cf/client)
from tests.cf.services.processes import start_broker, tcp_postgres
from tests.director.postgres import find_bindir


@pytest.fixture(scope="module")
def pg():
    if find_bindir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl, postgres); scripts/setup installs them")
    with tcp_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def pg_broker(tmp_path_factory, pg):
    broker = start_broker(tmp_path_factory.mktemp("pg-broker"), pg)
    yield broker
    end_process(broker.proc)
    print(broker.log()[-3000:])


@pytest.fixture
def auth(cc):
    return login(cc)
