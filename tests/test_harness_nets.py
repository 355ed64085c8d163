"""tests/harness.py's networks: a director that lives for the whole session (the cf
deployment tests/e2e shares) and the module directors that come and go beside it on the
same worker must not share a bridge or a subnet."""

from __future__ import annotations

import urllib.request

import pytest

from tests.e2e.manifests import web_manifest, write
from tests.harness import SESSION_NET, WORKER_NET, director_with_stemcell

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def page(ip: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as response:
        return response.read().decode()


def test_the_session_net_is_apart_from_the_workers_net():
    assert SESSION_NET.bridge != WORKER_NET.bridge
    assert SESSION_NET.subnet != WORKER_NET.subnet
    assert not SESSION_NET.cpi_prefix.startswith(WORKER_NET.cpi_prefix)
    assert not WORKER_NET.cpi_prefix.startswith(SESSION_NET.cpi_prefix)


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
