"""DEA drain is evacuation, with every component real (tests/cf/dea/platform.py): an app with 3
instances on 2 DEAs, the first DEA's drain script run as the agent runs it (again and again
while it prints a negative number), and the app answering through the router the whole
time: zero failed requests, 3 instances RUNNING on the other DEA at the end."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cf_platform.client.cc_client import CcClient

from tests.cf.cc.plumbing import end_process, start_hm
from tests.cf.router.helpers import find_nginx, start_router
from tests.harness import wait_until
from tests.load_support import LoadGenerator

from .conftest import _run_dea, needs_root
from .helpers import HELLO_APP, DeaNetns, NatsWatcher, free_port_range, make_zip
from .platform import REPO, dea_config, route_to, start_cc_on, start_cf_nats

pytestmark = [needs_root, pytest.mark.timeout(600)]

WATCHED = ["dea.advertise", "dea.heartbeat", "dea.shutdown", "droplet.exited", "router.register",
           "router.unregister", "health.start", "health.stop"]


def run_drain(config_path: Path, limit: float) -> list[int]:
    """The dea job's drain as the agent runs it (bosh_py/agent/actions/drain.py): call, and
    while it prints n < 0, wait |n| seconds and call again with job_check_status."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "releases" / "cf_platform" / "src")}
    args = ["job_shutdown", "hash_unchanged"]
    answers: list[int] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-m", "cf_platform.dea.drain", "--config", str(config_path), *args],
                              capture_output=True, text=True, env=env, timeout=30)
        assert done.returncode == 0, done.stderr
        answers.append(int(done.stdout.strip().splitlines()[-1]))
        if answers[-1] >= 0:
            return answers
        time.sleep(-answers[-1])
        args = ["job_check_status", "hash_unchanged"]
    raise AssertionError(f"the drain did not finish within {limit:g} s: {answers[-5:]}")


def live_on(watcher: NatsWatcher, dea_id: str, guid: str, since: float) -> list[dict]:
    """The app's instances in ``dea_id``'s latest heartbeat."""
    beats = [m for m in watcher.on("dea.heartbeat", since) if m["dea"] == dea_id]
    return [d for d in beats[-1]["droplets"] if d["droplet"] == guid] if beats else []


def test_draining_a_dea_moves_its_instances_without_losing_a_request(tmp_path):
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed on the host (apt-get install nginx)")
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
        stack.callback(lambda: print("--- cc log ---\n" + "\n".join(
            line for line in cc.log().splitlines() if "GET /internal/apps" not in line)[-5000:]))
        stack.callback(end_process, cc.proc)
        hm = start_hm(tmp_path / "hm", nats_.as_user("health_manager"), cc, heartbeat_interval=1,
                      poll_interval=0.5, decide_interval=0.2, log_level="INFO")
        stack.callback(lambda: print("--- hm log ---\n" + hm.log()[-3000:]))
        stack.callback(end_process, hm.proc)
        router = start_router(nats_.as_user("router"), nginx)
        stack.callback(router.stop)
        deas, paths = [], []
        for index, netns in enumerate(nets):
            base = tmp_path / f"dea{index}"
            base.mkdir()
            config = dea_config(index, base, nats_, netns, free_port_range(20))
            dea = stack.enter_context(contextlib.contextmanager(_run_dea)(base, config, watcher, netns))
            stack.callback(lambda d=dea: print(f"--- DEA {d.id} log ---\n" + d.log()[-3000:]))
            deas.append(dea)
            paths.append(base / "dea.json")

        # push: 3 instances, one route
        token = CcClient(cc.url).token("admin", "admin-secret")["access_token"]
        client = stack.enter_context(CcClient(cc.url, token))
        guid = client.create_app({"name": "evac", "instances": 3, "memory": 64})["metadata"]["guid"]
        client.upload_bits(guid, make_zip({"app.py": HELLO_APP}))
        route = client.create_route("evac", client.shared_domain()["metadata"]["guid"])
        client.bind_route(guid, route["metadata"]["guid"])
        client.update_app(guid, {"state": "STARTED"})
        since = time.monotonic()

        def spread() -> dict[str, int] | None:
            counts = {d.id: sum(1 for i in live_on(watcher, d.id, guid, since) if i["state"] == "RUNNING")
                      for d in deas}
            return counts if sum(counts.values()) == 3 else None
        counts = wait_until(spread, 120, interval=0.2, message="3 RUNNING instances")
        assert all(counts.values()), f"the 3 instances did not land on both DEAs: {counts}"
        victim, survivor = sorted(deas, key=lambda d: -counts[d.id])
        victim_path = paths[deas.index(victim)]

        with LoadGenerator(f"http://127.0.0.1:{router.port}/", host="evac.apps.test", interval=0.05) as load:
            load.wait_for(20, timeout=60)
            assert load.result.failed == 0, "before the drain: " + load.result.summary()
            drained_at = time.monotonic()
            answers = run_drain(victim_path, limit=90)
            drained_in = time.monotonic() - drained_at
            assert victim.stop() == 0          # what the agent does next (monit stop)
            load.wait_for(40, timeout=60)      # and the app still answers afterwards
        result = load.result
        print(f"drain: {len(answers)} calls, {drained_in:.1f} s; load: {result.sent} requests sent, "
              f"{result.failed} failed, answered by {len(result.bodies)} distinct bodies")
        assert result.failed == 0, result.summary()

        # the victim said dea.shutdown, its instances were replaced (STOPPED, not timed out)
        assert [m for m in watcher.on("dea.shutdown", since) if m["id"] == victim.id]
        exits = [m for m in watcher.on("droplet.exited", since) if m["droplet"] == guid]
        assert sorted(m["reason"] for m in exits) == ["STOPPED"] * counts[victim.id], exits
        assert answers[0] < 0 and answers[-1] == 0, answers
        evacuating = [d for m in watcher.on("dea.heartbeat", since) if m["dea"] == victim.id
                      for d in m["droplets"] if d["state"] == "EVACUATING"]
        assert evacuating, "the victim never reported its instances EVACUATING"
        # 3 RUNNING instances, indices 0-2, all on the survivor
        later = time.monotonic()

        def running_on_survivor() -> list[dict] | None:
            live = [i for i in live_on(watcher, survivor.id, guid, later) if i["state"] == "RUNNING"]
            return live if len(live) == 3 else None
        final = wait_until(running_on_survivor, 10, message="the survivor's heartbeat")
        assert sorted(i["index"] for i in final) == [0, 1, 2]
