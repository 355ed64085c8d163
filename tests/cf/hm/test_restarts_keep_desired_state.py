"""The cloud controller and the health manager restart (a rollout of their jobs, a crash)
without losing desired state: the CC keeps it on disk (SQLite under data_dir), the HM
rebuilds it from the CC and the heartbeats. Real processes: nats-server, CC, HM; the DEA
is the heartbeating stand-in (tests/cf/cc/plumbing.py)."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.cf.cc.plumbing import (CcProcess, DeaStandIn, HmProcess, end_process, eventually, login,
                                  start_cc, start_hm, vm_python, wait_port)
from tests.cf.hm.test_health_manager_nats import push


def restart_cc(cc: CcProcess) -> CcProcess:
    """SIGTERM the CC, then start it again from the same config file (same port, data_dir,
    secrets), as monit would after a crash or the agent after a rollout."""
    end_process(cc.proc)
    python, env = vm_python(cc.config_path.parent)
    proc = subprocess.Popen([*python, "-m", "cf_platform.cloud_controller", "--config", str(cc.config_path)],
                            stdout=open(cc.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
    wait_port(cc.port, proc=proc)
    return CcProcess(cc.url, cc.port, cc.config, cc.config_path, proc, cc.log_path)


def restart_hm(hm: HmProcess) -> HmProcess:
    end_process(hm.proc)
    path = hm.log_path.parent / "hm.json"
    python, env = vm_python(hm.log_path.parent)
    offset = len(hm.log())
    proc = subprocess.Popen([*python, "-m", "cf_platform.health_manager", "--config", str(path)],
                            stdout=open(hm.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
    again = HmProcess(hm.config, proc, hm.log_path)
    eventually(lambda: "health manager up" in again.log()[offset:], timeout=15)
    return again


@pytest.fixture
def parts(tmp_path, nats_server):
    """[cc, dea, hm]: a list, so a test can put restarted processes back for the cleanup."""
    dea = DeaStandIn(nats_server, heartbeat_interval=0.2).start()
    cc = start_cc(tmp_path / "cc", nats_server)
    hm = start_hm(tmp_path / "hm", nats_server, cc)
    running = [cc, dea, hm]
    try:
        yield running
    finally:
        end_process(running[2].proc)
        end_process(running[0].proc)
        dea.stop()
        print("--- hm log ---\n" + running[2].log()[-4000:])
        print("--- cc log ---\n" + running[0].log()[-4000:])


def app_entity(cc: CcProcess, auth: dict, guid: str) -> dict:
    response = httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth)
    response.raise_for_status()
    return response.json()["entity"]


def replaced_after_a_crash(dea: DeaStandIn, guid: str, count: int) -> None:
    victim = dea.live(guid)[0]
    dea.crash(victim.instance)
    eventually(lambda: len(dea.live(guid)) == count and victim.instance not in {i.instance for i in dea.live(guid)},
               timeout=10)


def test_the_cloud_controller_restarts_with_its_apps_and_the_hm_keeps_converging(parts):
    cc, dea, hm = parts
    auth = login(cc)
    guid = push(cc, auth, 3)
    eventually(lambda: len(dea.live(guid)) == 3)
    before = app_entity(cc, auth, guid)
    running_before = {i.instance for i in dea.live(guid)}
    stops_before = list(dea.stops)       # the CC's own stop of other versions when it started the app

    cc = parts[0] = restart_cc(cc)
    after = app_entity(cc, login(cc), guid)     # the old token's secret survived too, but log in again
    assert (after["instances"], after["state"], after["package_state"], after["version"]) == \
        (3, "STARTED", "STAGED", before["version"])
    # the restart itself neither started nor stopped anything: the same 3 keep running
    time.sleep(1.5)     # several HM rounds (0.1 s) and desired-state polls (0.2 s)
    assert {i.instance for i in dea.live(guid)} == running_before
    assert dea.stops == stops_before
    # and the HM converges through the new CC process: a crash is replaced
    replaced_after_a_crash(dea, guid, 3)
    # a scale-down through the restarted CC reaches the DEAs
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"instances": 2}, headers=login(cc)).raise_for_status()
    eventually(lambda: sorted(i.index for i in dea.live(guid)) == [0, 1], timeout=10)


def test_the_health_manager_restarts_without_stopping_or_doubling_instances(parts):
    cc, dea, hm = parts
    auth = login(cc)
    guid = push(cc, auth, 3)
    eventually(lambda: len(dea.live(guid)) == 3)
    running_before = {i.instance for i in dea.live(guid)}
    starts_before, stops_before = len(dea.starts), list(dea.stops)

    hm = parts[2] = restart_hm(hm)
    time.sleep(1.5)     # past the new HM's grace (3 × 0.2 s) for anything it might misjudge
    assert {i.instance for i in dea.live(guid)} == running_before
    assert len(dea.starts) == starts_before and dea.stops == stops_before
    replaced_after_a_crash(dea, guid, 3)
    assert "health.start" in hm.log()


def test_both_restart_while_an_instance_is_missing_and_it_is_still_replaced(parts):
    """The CC and HM go down together (the VM of both restarted), an instance dies meanwhile
    without a word: when they are back, the desired 3 are running again."""
    cc, dea, hm = parts
    auth = login(cc)
    guid = push(cc, auth, 3)
    eventually(lambda: len(dea.live(guid)) == 3)
    end_process(hm.proc)
    end_process(cc.proc)
    gone = dea.live(guid)[0]
    with dea._lock:
        del dea.instances[gone.instance]
    parts[0] = restart_cc(cc)
    parts[2] = restart_hm(hm)
    eventually(lambda: len(dea.live(guid)) == 3, timeout=10)
    assert gone.index in {i.index for i in dea.live(guid)}
