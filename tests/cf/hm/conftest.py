"""The HM's NATS-level tests reuse the CC tests' real processes (tests/cf/cc/plumbing.py)."""

from __future__ import annotations


import pytest

from tests.cf.cc.plumbing import DeaStandIn, end_process, login, start_cc, start_hm


@pytest.fixture
def platform(tmp_path, nats_server):
    """A CC, a heartbeating DEA stand-in and a health manager with 0.2 s heartbeats."""
    dea = DeaStandIn(nats_server, heartbeat_interval=0.2).start()
    cc = start_cc(tmp_path / "cc", nats_server)
    hm = start_hm(tmp_path / "hm", nats_server, cc)
    try:
        yield cc, dea, hm, login(cc)
    finally:
        end_process(hm.proc)
        end_process(cc.proc)
        dea.stop()
        print("--- hm log ---\n" + hm.log()[-4000:])
        print("--- cc log ---\n" + cc.log()[-6000:])
