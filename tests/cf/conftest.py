"""Fixtures shared by the cloud controller, health manager and client tests: one real
nats-server per module, a DEA stand-in on NATS and a real CC process per test
(tests/cf/cc/plumbing.py)."""

from __future__ import annotations

import pytest

from tests.cf.cc.plumbing import DeaStandIn, end_process, start_cc, start_nats


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
    print(process.log()[-5000:])  # shown by pytest when the test failed
