"""Fixtures: one nats-server per module, a fresh CC process and DEA stand-in per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root, for tests.cf.cc.plumbing

from tests.cf.cc.plumbing import DeaStandIn, end_process, login, start_cc, start_nats  # noqa: E402


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    end_process(server.proc)


@pytest.fixture
def dea(nats_server):
    stand_in = DeaStandIn(nats_server).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def cc(tmp_path, nats_server, dea):
    process = start_cc(tmp_path / "cc", nats_server)
    yield process
    end_process(process.proc)
    print(process.log()[-5000:])


@pytest.fixture
def auth(cc):
    return login(cc)
