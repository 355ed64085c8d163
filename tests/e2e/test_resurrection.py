"""The health monitor notices a VM that died behind the director's back and recreates it,
with its IP and persistent disk; in a meltdown it holds back."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.manifests import web_manifest, write
from tests.harness import BIN, LocalDirector, director_with_stemcell, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fast_director(tmp_path_factory):
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-hm"), {
            "agent_timeout": 6, "analysis_interval": 1, "minimum_down_jobs": 2, "percent_threshold": 0.9}) as local:
        local.upload_testrel()
        yield local


def kill_vm_behind_the_directors_back(director: LocalDirector, vm_cid: str) -> None:
    request = {"method": "delete_vm", "arguments": [vm_cid], "context": {}, "api_version": 2}
    result = subprocess.run([str(BIN / "bosh-py-cpi-local"), str(director.cpi_config)], input=json.dumps(request),
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["error"] is None


def test_dead_vm_is_recreated_with_its_ip_and_disk(fast_director):
    director = fast_director
    director.cli("deploy", "-n", write(director.root, web_manifest("heal", instances=2)))
    before = {r["index"]: r for r in director.json("instances", "-d", "heal")}
    victim = before[1]
    kill_vm_behind_the_directors_back(director, victim["vm_cid"])
    started = time.monotonic()

    def healed():
        rows = {r["index"]: r for r in director.json("instances", "-d", "heal")}
        row = rows[1]
        return row if row["vm_cid"] not in (None, victim["vm_cid"]) and row["process_state"] == "running" else None

    after = wait_until(healed, 90, interval=1, message="the instance back on a new VM")
    took = time.monotonic() - started
    assert after["ips"] == victim["ips"] and after["disk_cids"] == victim["disk_cids"]
    assert {r["index"]: r["vm_cid"] for r in director.json("instances", "-d", "heal")}[0] == before[0]["vm_cid"]
    events = director.json("events", "-d", "heal")
    assert any(e["action"] == "resurrect" for e in events)
    assert took < 60, f"resurrection took {took:.0f}s"
    director.cli("delete-deployment", "-d", "heal", "-n")


def test_meltdown_holds_back(fast_director):
    """Both of melt's VMs die; calm's stay up, so the director as a whole is not silent
    (that would be the mass-silence rule, tests/e2e/test_never_harm.py): melt's meltdown
    rule holds back, and says so once per episode, not once per analysis round."""
    director = fast_director
    director.cli("deploy", "-n", write(director.root, web_manifest("calm", instances=2, disk=False)))
    director.cli("deploy", "-n", write(director.root, web_manifest("melt", instances=2, disk=False)))
    rows = director.json("instances", "-d", "melt")
    with ThreadPoolExecutor(len(rows)) as pool:  # together: one at a time is not a meltdown
        list(pool.map(lambda row: kill_vm_behind_the_directors_back(director, row["vm_cid"]), rows))
    wait_until(lambda: any(e["action"] == "meltdown" for e in director.json("events", "-d", "melt")), 60,
               interval=1, message="a meltdown event")
    time.sleep(5)  # five more analysis rounds, all still in meltdown
    events = director.json("events", "-d", "melt")
    assert [e["action"] for e in events].count("meltdown") == 1, "one meltdown event per episode"
    assert not any(e["action"] == "resurrect" for e in events)
    assert {r["vm_cid"] for r in director.json("instances", "-d", "melt")} == {r["vm_cid"] for r in rows}
    director.cli("delete-deployment", "-d", "melt", "-n", "--force")
    director.cli("delete-deployment", "-d", "calm", "-n")
