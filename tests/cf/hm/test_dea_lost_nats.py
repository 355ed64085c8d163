"""A DEA that disappears (its VM killed) has its instances running again elsewhere within
15 s, through the real health manager, cloud controller and nats-server (the DEAs are the
NATS stand-ins, heartbeating every 2 s as the real DEA's default); and the fast path never
fires on weak evidence: a NATS restart of a few seconds restarts nothing, and a DEA that
was only slow leaves no duplicate running for longer than the HM's grace.

The HM runs with the job's defaults (heartbeat_interval 10, missing_after 3: 30 s grace,
dea_lost_after 3), so without the DEA-loss judgement the first test waits two 30 s grace
periods and fails."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cf.cc.plumbing import end_process, eventually, login, make_zip, start_cc, start_hm, start_nats

from .dea_loss_support import SilenceableDea, restart_nats

APP = {"app.py": "print('hi')\n"}
HEARTBEAT = 2.0          # the real DEA's default dea.heartbeat_interval


@pytest.fixture
def platform(tmp_path) -> Iterator[dict]:
    """Its own nats-server (the blip test restarts it), a CC, two DEA stand-ins, an HM."""
    running: dict = {"nats": start_nats(tmp_path)}
    try:
        running["deas"] = [SilenceableDea(running["nats"], heartbeat_interval=HEARTBEAT).start() for _ in range(2)]
        running["cc"] = start_cc(tmp_path / "cc", running["nats"])
        running["hm"] = start_hm(tmp_path / "hm", running["nats"], running["cc"], heartbeat_interval=10,
                                 missing_after=3, dea_lost_after=3, poll_interval=0.5, decide_interval=0.2,
                                 log_level="INFO")
        running["auth"] = login(running["cc"])
        yield running
    finally:
        for name in ("hm", "cc"):
            if name in running:
                end_process(running[name].proc)
                print(f"--- {name} log ---\n" + running[name].log()[-4000:])
        for dea in running.get("deas", []):
            if not dea.stopped:
                dea.stop()
        end_process(running["nats"].proc)


def push(platform: dict, instances: int) -> str:
    cc, auth = platform["cc"], platform["auth"]
    guid = httpx.post(cc.url + "/v2/apps", json={"name": "hello", "instances": instances, "memory": 64},
                      headers=auth).json()["metadata"]["guid"]
    httpx.put(cc.url + f"/v2/apps/{guid}/bits", content=make_zip(APP), headers=auth).raise_for_status()
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=auth).raise_for_status()
    eventually(lambda: sum(len(d.live(guid)) for d in platform["deas"]) == instances, timeout=20)
    time.sleep(HEARTBEAT + 0.5)         # each DEA has told the HM what it runs
    return guid


def live_indices(platform: dict, guid: str) -> list[int]:
    return sorted(i.index for d in platform["deas"] for i in d.live(guid))


def test_a_killed_deas_instances_run_again_on_the_other_dea_within_15_seconds(platform):
    guid = push(platform, 4)
    victim, survivor = sorted(platform["deas"], key=lambda d: -len(d.live(guid)))
    lost = len(victim.live(guid))
    assert lost > 0
    victim.stop()                       # heartbeats and discover answers stop, as when its VM dies
    killed = time.monotonic()
    eventually(lambda: len(survivor.live(guid)) == 4, timeout=15, interval=0.1)
    healed = time.monotonic() - killed
    print(f"{lost} instances of a killed DEA running again elsewhere after {healed:.1f} s")
    assert sorted(i.index for i in survivor.live(guid)) == [0, 1, 2, 3]
    assert f"DEA {victim.id} lost" in platform["hm"].log()
    time.sleep(2 * HEARTBEAT)           # and nothing more is started: one replacement per index
    assert len(survivor.live(guid)) == 4 and len(survivor.starts) == 4 - lost + lost


def test_a_nats_restart_of_a_few_seconds_restarts_nothing(platform, tmp_path):
    guid = push(platform, 4)
    before = {d.id: len(d.starts) for d in platform["deas"]}
    platform["nats"] = restart_nats(platform["nats"], tmp_path, down_for=5)
    time.sleep(4 * 3 * HEARTBEAT)       # well past the DEA-loss threshold, counted from the reconnection
    log = platform["hm"].log()
    assert "NATS connection lost" in log and "NATS connection back" in log
    assert " lost: silent" not in log and "health.start" not in log, log[-3000:]
    assert {d.id: len(d.starts) for d in platform["deas"]} == before
    assert live_indices(platform, guid) == [0, 1, 2, 3]


def test_a_dea_that_was_only_slow_leaves_no_lasting_duplicates(platform):
    guid = push(platform, 4)
    deas = platform["deas"]
    slow = max(deas, key=lambda d: len(d.live(guid)))
    silenced = len(slow.live(guid))
    started = sum(len(d.starts) for d in deas)
    slow.silent = True                  # e.g. its event loop stalled: no heartbeat for a while
    eventually(lambda: sum(len(d.starts) for d in deas) == started + silenced, timeout=15, interval=0.1)
    time.sleep(1)
    slow.silent = False
    # its instances are seen again: duplicates, which the HM stops after its grace (30 s)
    eventually(lambda: live_indices(platform, guid) == [0, 1, 2, 3], timeout=45, interval=0.5)
    assert "health.stop" in platform["hm"].log()
    time.sleep(3 * HEARTBEAT)
    assert live_indices(platform, guid) == [0, 1, 2, 3]
    assert sum(len(d.starts) for d in deas) == started + silenced     # one replacement per index, once
