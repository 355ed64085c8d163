"""The health manager process with a real CC and NATS: crashes are replaced, extras stopped."""

from __future__ import annotations

import httpx

from tests.cf.cc.plumbing import eventually, make_zip

APP = {"app.py": "print('hi')\n"}


def push(cc, auth, instances: int) -> str:
    guid = httpx.post(cc.url + "/v2/apps", json={"name": "hello", "instances": instances, "memory": 64},
                      headers=auth).json()["metadata"]["guid"]
    httpx.put(cc.url + f"/v2/apps/{guid}/bits", content=make_zip(APP), headers=auth).raise_for_status()
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=auth).raise_for_status()
    return guid


def test_a_crashed_instance_is_replaced(platform):
    cc, dea, hm, auth = platform
    guid = push(cc, auth, 2)
    eventually(lambda: len(dea.live(guid)) == 2)
    victim = dea.live(guid)[0]
    dea.crash(victim.instance)
    replacement = eventually(lambda: [i for i in dea.live(guid) if i.index == victim.index], timeout=10)
    assert replacement[0].instance != victim.instance
    assert len(dea.live(guid)) == 2
    assert "health.start" in hm.log()


def test_an_instance_that_vanishes_without_a_word_is_replaced(platform):
    cc, dea, hm, auth = platform
    guid = push(cc, auth, 1)
    eventually(lambda: len(dea.live(guid)) == 1)
    gone = dea.live(guid)[0].instance
    with dea._lock:
        del dea.instances[gone]       # e.g. the DEA lost it; no droplet.exited
    eventually(lambda: len(dea.live(guid)) == 1, timeout=10)
    assert dea.live(guid)[0].instance != gone


def test_extra_instances_are_stopped(platform):
    cc, dea, hm, auth = platform
    guid = push(cc, auth, 1)
    eventually(lambda: len(dea.live(guid)) == 1)
    version = httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth).json()["entity"]["version"]
    rogue = dea.add_rogue(guid, version, 3)
    eventually(lambda: {"droplet": guid, "instances": [rogue]} in dea.stops, timeout=10)
    eventually(lambda: [i.index for i in dea.live(guid)] == [0])


def test_a_crash_loop_backs_off(platform):
    cc, dea, hm, auth = platform
    guid = push(cc, auth, 1)
    eventually(lambda: len(dea.live(guid)) == 1)
    for n in range(4):
        instance = eventually(lambda: dea.live(guid), timeout=10)[0]
        dea.crash(instance.instance)
        if n < 3:   # restarted at once
            eventually(lambda: dea.live(guid) and dea.live(guid)[0].instance != instance.instance, timeout=3)
    # the fourth crash waits backoff.base (1 s) before the restart
    import time
    time.sleep(0.6)
    assert dea.live(guid) == []
    eventually(lambda: len(dea.live(guid)) == 1, timeout=5)
