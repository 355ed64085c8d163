"""The health manager's decisions reach `cf-py logs` as HM lines: a real health manager and
cloud controller, the DEA stand-in on NATS (tests/cf/cc/plumbing.py), the real log server."""

from __future__ import annotations

import httpx

from tests.cf.cc.plumbing import end_process, eventually, make_zip, start_hm

from .log_server_support import CF_LINE


def test_a_replaced_crash_shows_as_an_hm_line(tmp_path, nats_server, dea, logs_cc, log_server, admin, cf):
    hm = start_hm(tmp_path / "hm", nats_server, logs_cc, log_server=log_server.emitter_settings("hm"))
    try:
        guid = httpx.post(logs_cc.url + "/v2/apps", json={"name": "talker", "instances": 2, "memory": 64},
                          headers=admin).json()["metadata"]["guid"]
        httpx.put(logs_cc.url + f"/v2/apps/{guid}/bits", content=make_zip({"app.py": "print('hi')\n"}),
                  headers=admin).raise_for_status()
        httpx.put(logs_cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=admin).raise_for_status()
        eventually(lambda: len(dea.live(guid)) == 2)
        victim = dea.live(guid)[1]
        dea.crash(victim.instance)
        hm_lines = eventually(lambda: [l for l in cf.ok("logs", "talker", "--recent").splitlines() if "[HM/" in l],
                              timeout=15)
        assert CF_LINE.match(hm_lines[0]).groups() == (
            "HM", str(victim.index), "OUT",
            f"instance index {victim.index} is missing: asking the cloud controller to start it")
    finally:
        end_process(hm.proc)
