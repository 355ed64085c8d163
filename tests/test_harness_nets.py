"""tests/harness.py's networks and ports: a director that outlives module fixtures (the cf
deployment of tests/e2e/cf) and the module directors that come and go beside it on the same
worker must not share a bridge or a subnet; parallel workers never share a TCP port."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.e2e.manifests import web_manifest, write
from tests.harness import FIRST_PORT, MAX_TEST_NET, PORTS_PER_NET, SESSION_NET, WORKER_NET, PortBlock, \
    director_with_stemcell


def page(ip: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as response:
        return response.read().decode()


def test_each_test_net_hands_out_ports_of_its_own_below_the_ephemeral_range():
    last_net = FIRST_PORT + PORTS_PER_NET * (MAX_TEST_NET + 1) - 1
    low, high = (int(n) for n in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    assert last_net < low
    first, second = PortBlock(FIRST_PORT + PORTS_PER_NET * 3), PortBlock(FIRST_PORT + PORTS_PER_NET * 4)
    taken = [first.take("127.0.0.1") for _ in range(5)] + [second.take("127.0.0.1") for _ in range(5)]
    assert len(set(taken)) == 10  # in turn: a port not yet bound by its taker is not handed out again
    assert all(FIRST_PORT + PORTS_PER_NET * 3 <= port < FIRST_PORT + PORTS_PER_NET * 5 for port in taken)


def test_a_port_in_use_is_skipped():
    block = PortBlock(FIRST_PORT + PORTS_PER_NET * 5)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", block.first))
        busy.listen()
        assert block.take("127.0.0.1") == block.first + 1


def test_the_session_net_is_apart_from_the_workers_net():
    assert SESSION_NET.bridge != WORKER_NET.bridge
    assert SESSION_NET.subnet != WORKER_NET.subnet
    assert not SESSION_NET.cpi_prefix.startswith(WORKER_NET.cpi_prefix)
    assert not WORKER_NET.cpi_prefix.startswith(SESSION_NET.cpi_prefix)


@pytest.mark.vm
@pytest.mark.slow
def test_a_session_directors_vm_outlives_a_module_director_beside_it(tmp_path):
    """Both deploy one web VM; the module director then stops (and its CPI removes
    everything it made, its bridge included); the session director's VM still answers."""
    with director_with_stemcell(tmp_path / "session", net=SESSION_NET) as session:
        session.upload_testrel()
        session.cli("deploy", "-n", write(tmp_path, web_manifest("kept", instances=1, disk=False), "kept.yml"))
        [kept] = session.json("instances", "-d", "kept")
        with director_with_stemcell(tmp_path / "module") as module:
            module.upload_testrel()
            module.cli("deploy", "-n", write(tmp_path, web_manifest("beside", instances=1, disk=False), "beside.yml"))
            [beside] = module.json("instances", "-d", "beside")
            assert kept["ips"][0].startswith(f"{SESSION_NET.subnet}.")
            assert beside["ips"][0].startswith(f"{WORKER_NET.subnet}.")
            assert "hello" in page(beside["ips"][0])
        assert "hello" in page(kept["ips"][0])
        assert "kept" in session.cli("ssh", "-d", "kept", "web/0", "-c", "echo kept").stdout
