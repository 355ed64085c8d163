"""A DEA killed outright (kill -9, as when its VM dies: its containers die with it, no
droplet.exited, no dea.shutdown) has its instances RUNNING again on the other DEA within
15 s, with the health manager and the DEAs on their job defaults (2 s DEA heartbeats, a
DEA lost after 3 of them, the 30 s per-instance grace): every component real
(tests/cf/dea/platform.py). The killed DEA then comes back with the same id, as a
resurrected VM does: it cleans up what its predecessor left and nothing is started twice."""

from __future__ import annotations

import contextlib
import signal
import time

import pytest

from cf_platform.client.cc_client import CcClient

from tests.cf.cc.plumbing import end_process, start_hm
from tests.harness import wait_until

from .conftest import _run_dea, needs_root
from .helpers import HELLO_APP, DeaNetns, NatsWatcher, descendants, free_port_range, make_zip, pid_alive
from .platform import dea_config, route_to, start_cc_on, start_cf_nats

pytestmark = [needs_root, pytest.mark.timeout(300)]

WATCHED = ["dea.advertise", "dea.heartbeat", "droplet.exited", "health.start", "health.stop"]
GOAL = 15.0       # seconds from the kill to every lost instance RUNNING elsewhere


def running(watcher: NatsWatcher, dea_id: str, guid: str, since: float) -> list[dict]:
    """The app's RUNNING instances in ``dea_id``'s latest heartbeat after ``since``."""
    beats = [m for m in watcher.on("dea.heartbeat", since) if m["dea"] == dea_id]
    return [d for d in beats[-1]["droplets"] if d["droplet"] == guid and d["state"] == "RUNNING"] if beats else []


def test_a_killed_deas_instances_run_on_the_other_dea_within_15_seconds(tmp_path):
    with contextlib.ExitStack() as stack:
        nets = []
        for _ in range(2):
            nets.append(DeaNetns().create())
            stack.callback(nets[-1].destroy)
        route_to(nets[1], nets[0])
        nats_ = start_cf_nats(tmp_path, nets[0].host_ip)
        stack.callback(nats_.stop)
        watcher = NatsWatcher(nats_.connect_options(), WATCHED)
        stack.callback(watcher.close)
        cc = start_cc_on(tmp_path / "cc", nats_, nets[0].host_ip)
        stack.callback(end_process, cc.proc)
        hm = start_hm(tmp_path / "hm", nats_.as_user("health_manager"), cc, heartbeat_interval=10, missing_after=3,
                      dea_lost_after=3, poll_interval=0.5, decide_interval=0.5, log_level="INFO")
        stack.callback(lambda: print("--- hm log ---\n" + hm.log()[-3000:]))
        stack.callback(end_process, hm.proc)
        configs, bases = [], []
        for index, netns in enumerate(nets):
            base = tmp_path / f"dea{index}"
            base.mkdir()
            bases.append(base)
            configs.append(dea_config(index, base, nats_, netns, free_port_range(20), heartbeat_interval=2))

        # the victim alone takes the app's 3 instances; the survivor joins afterwards
        first = _run_dea(bases[0], configs[0], watcher, nets[0], leaves_cgroups=True)
        victim = next(first)
        stack.callback(first.close)
        token = CcClient(cc.url).token("admin", "admin-secret")["access_token"]
        client = stack.enter_context(CcClient(cc.url, token))
        guid = client.create_app({"name": "healme", "instances": 3, "memory": 64})["metadata"]["guid"]
        client.upload_bits(guid, make_zip({"app.py": HELLO_APP}))
        client.update_app(guid, {"state": "STARTED"})
        since = time.monotonic()
        wait_until(lambda: len(running(watcher, victim.id, guid, since)) == 3, 120, interval=0.2,
                   message="3 RUNNING instances on the first DEA")
        survivor = stack.enter_context(contextlib.contextmanager(_run_dea)(bases[1], configs[1], watcher, nets[1]))
        stack.callback(lambda: print(f"--- survivor {survivor.id} log ---\n" + survivor.log()[-2000:]))
        time.sleep(3)       # the HM has heard the survivor's heartbeats too

        assert victim.process is not None
        containers = descendants(victim.process.pid)    # they die with the DEA (PDEATHSIG)
        assert containers
        victim.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.process.wait(10)
        healed = wait_until(lambda: len(running(watcher, survivor.id, guid, killed)) == 3 and time.monotonic(),
                            60, interval=0.1, message="the 3 instances RUNNING on the survivor")
        took = healed - killed
        print(f"the killed DEA's 3 instances RUNNING on the other DEA {took:.1f} s after the kill")
        assert f"DEA {victim.id} lost" in hm.log()
        assert took <= GOAL, f"healed after {took:.1f} s (goal {GOAL:g} s)"
        assert sorted(i["index"] for i in running(watcher, survivor.id, guid, killed)) == [0, 1, 2]
        wait_until(lambda: not any(pid_alive(p) for p in containers), 10, message="the containers to die")
        first.close()

        # the victim comes back (its VM resurrected, same DEA id): it cleans up what it left and
        # gets nothing of what already runs elsewhere; one replacement per index, no stop needed
        back = stack.enter_context(contextlib.contextmanager(_run_dea)(bases[0], configs[0], watcher, nets[0]))
        assert back.id == victim.id
        time.sleep(3 * 2)
        assert running(watcher, back.id, guid, killed) == []
        assert sorted(i["index"] for i in running(watcher, survivor.id, guid, killed)) == [0, 1, 2]
        starts = [m for m in watcher.on("health.start", since) if m["droplet"] == guid]
        assert sorted(i for m in starts for i in m["indices"]) == [0, 1, 2], starts
        assert not watcher.on("health.stop", killed)
