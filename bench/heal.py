#!/usr/bin/env python3
"""Heal benchmark: a VM killed (its keeper, kill -9, as a host failure) on the health
monitor's defaults, timed through each stage of its healing:

  kill → detected (the monitor's first event about it) → VM recreated (a new VM cid
  recorded) → jobs running → answering again

for a plain job with a persistent disk (tests/fixtures/releases/kv-bosh: the value written
before the kill must be read back after) and for a DEA of deployments/cf.yml. The DEA row
times the app rather than the VM: "app answering" is the first request answered through
HAProxy after the kill (the app never stops answering: its instances on the other DEA
serve), "all instances running" is when the pushed app's 3 instances answer again (3
distinct instance ids through HAProxy), wherever the health manager restarted them and
whether or not the DEA VM is back yet. Before each DEA kill the instances are spread over
both DEAs and the DEA holding the most of them is killed. Medians of ``--kills`` kills
per case; the goal is "answering" (kv) and "all instances running" (DEA) within 15 s.
Run as root: `BOSH_PY_TEST_NET=N .venv/bin/python bench/heal.py [--kills 5] [--case kv|dea|all]`.
"""


from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.e2e.cf_support import DOMAIN, DeployedCf, deploy_cf  # noqa: E402
from tests.e2e.heal_support import kill_keeper  # noqa: E402
from tests.e2e.manifests import write  # noqa: E402
from tests.harness import LocalDirector, ensure_stemcell  # noqa: E402
from tests.load_support import LoadGenerator  # noqa: E402

VM_STAGES = ("detected", "VM recreated", "jobs running")
KV_STAGES = (*VM_STAGES, "answering")
DEA_STAGES = (*VM_STAGES, "app answering", "all instances running")
DETECTIONS = {"vm missing", "agent disconnected", "unresponsive", "resurrect"}
KV_PORT = 7480
DEA_INSTANCES = 3


@dataclass(frozen=True)
class Probe:
    """A stage reached when ``check()`` first returns True; ``after_jobs`` checks it only once
    the VM's jobs run again (the kv job answers only from its new VM)."""
    stage: str
    check: Callable[[], bool]
    after_jobs: bool = False


def kv_manifest() -> dict:
    return {
        "name": "kv", "releases": [{"name": "kv-bosh", "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 2, "canary_watch_time": "500-20000",
                   "update_watch_time": "500-20000"},
        "instance_groups": [{
            "name": "kv", "azs": ["z1"], "instances": 1, "vm_type": "default", "stemcell": "default",
            "persistent_disk_type": "small", "networks": [{"name": "default"}],
            "jobs": [{"name": "kv", "release": "kv-bosh"}],
        }],
    }


def kv(ip: str, path: str, data: bytes | None = None) -> str | None:
    request = urllib.request.Request(f"http://{ip}:{KV_PORT}{path}", data=data, method="PUT" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def one_kill(director: LocalDirector, deployment: str, victim: dict, probes: list[Probe]) -> dict[str, float]:
    """Kill ``victim`` (an ``instances`` row) and time each stage of its healing (polled every 0.2 s)."""
    stages = (*VM_STAGES, *(p.stage for p in probes))
    seen_events = {e["id"] for e in director.json("events", "-d", deployment)}
    kill_keeper(director, victim["vm_cid"])
    killed = time.monotonic()
    at: dict[str, float] = {}
    while len(at) < len(stages):
        if time.monotonic() - killed > 300:
            raise RuntimeError(f"{victim['group']}: not healed after 300 s (stages reached: {sorted(at)})")
        now = time.monotonic() - killed
        for probe in probes:
            if probe.stage not in at and (not probe.after_jobs or "jobs running" in at) and probe.check():
                at[probe.stage] = now
        if "detected" not in at and any(e["id"] not in seen_events and e["action"] in DETECTIONS
                                        for e in director.json("events", "-d", deployment)):
            at["detected"] = now
        row = next(r for r in director.json("instances", "-d", deployment) if r["id"] == victim["id"])
        if "VM recreated" not in at and row["vm_cid"] not in (None, victim["vm_cid"]):
            at["VM recreated"] = now
        if "VM recreated" in at and "jobs running" not in at and row["process_state"] == "running":
            at["jobs running"] = now
        time.sleep(0.2)
    for later, earlier in (("jobs running", "detected"), ("jobs running", "VM recreated")):
        at[earlier] = min(at[earlier], at[later])   # seen in the same poll as a later stage: by then
    return at


def kv_case(tmp: Path, kills: int) -> list[dict[str, float]]:
    director = LocalDirector(tmp / "kv")
    figures = []
    try:
        director.start()
        director.cli("upload-stemcell", str(ensure_stemcell()))
        director.update_cloud_config()
        shutil.copytree(REPO / "tests/fixtures/releases/kv-bosh", tmp / "kv-bosh")
        director.cli("upload-release", str(tmp / "kv-bosh"))
        director.cli("deploy", "-n", write(tmp, kv_manifest()))
        ip = director.json("instances", "-d", "kv")[0]["ips"][0]
        for number in range(kills):
            value = f"written before kill {number}"
            assert kv(ip, f"/kv/bench{number}", value.encode()) is not None
            victim = director.json("instances", "-d", "kv")[0]
            figures.append(one_kill(director, "kv", victim, [Probe("answering", lambda: kv(ip, "/") is not None,
                                                                   after_jobs=True)]))
            kept = kv(ip, f"/kv/bench{number}")
            if kept != value:
                raise RuntimeError(f"the persistent disk lost data: read {kept!r} after the heal, wrote {value!r}")
            print(f"kv kill {number + 1}/{kills}: {figures[-1]}", file=sys.stderr)
    finally:
        director.stop()
    return figures


def dea_case(tmp: Path, kills: int) -> list[dict[str, float]]:
    director = LocalDirector(tmp / "cf")
    figures = []
    try:
        director.start()
        director.cli("upload-stemcell", str(ensure_stemcell()))
        director.update_cloud_config()
        cf = deploy_cf(director, tmp)
        cf.cf_py("push", "hello", "-p", str(REPO / "examples/hello"), "-m", "64M", "-i", str(DEA_INSTANCES))
        url, host = f"http://{cf.ips['haproxy'][0]}/", f"hello.{DOMAIN}"
        with cf.cc() as client:
            guid = client.app("hello")["metadata"]["guid"]

        def app_answers() -> bool:
            with LoadGenerator(url, host, interval=0.01, timeout=1) as load:
                load.wait_for(1)
            return load.result.failed == 0

        def all_answer() -> bool:
            with LoadGenerator(url, host, interval=0.01) as load:
                load.wait_for(15)
            return len(load.result.bodies) == DEA_INSTANCES

        probes = [Probe("app answering", app_answers), Probe("all instances running", all_answer)]
        for number in range(kills):
            victim = spread_and_pick(director, cf, guid)
            with LoadGenerator(url, host) as load:
                figures.append(one_kill(director, "cf", victim, probes))
            figures[-1]["failed requests"] = load.result.failed
            print(f"dea kill {number + 1}/{kills}: {figures[-1]} ({load.result.sent} requests)", file=sys.stderr)
    finally:
        director.stop()
    return figures


def running_hosts(cf: DeployedCf, guid: str) -> list[dict]:
    with cf.cc() as client:
        return [i for i in client.instances(guid).values() if i.get("state") == "RUNNING"]


def spread_and_pick(director: LocalDirector, cf: DeployedCf, guid: str) -> dict:
    """The DEA holding the most of the app's instances, once they run on both DEAs (a kill
    of a DEA holding all of them would stop the app, one holding none would heal nothing).
    Evacuations and heals leave instances crowded on one DEA; Cloud Foundry does not
    rebalance, so an instance there is crashed and the health manager restarts it on the
    emptier DEA (the DEAs' placement)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        deas = [r for r in director.json("instances", "-d", "cf") if r["group"] == "dea"]
        running = running_hosts(cf, guid)
        hosts = Counter(i["host"] for i in running)
        if len(running) == DEA_INSTANCES and len(hosts) == len(deas) and all(r["process_state"] == "running"
                                                                           for r in deas):
            crowded = hosts.most_common(1)[0][0]
            return next(r for r in deas if r["ips"][0] == crowded)
        if len(running) == DEA_INSTANCES and all(r["process_state"] == "running" for r in deas):
            victim = next(i for i in running if i["host"] == hosts.most_common(1)[0][0])
            dea = next(r for r in deas if r["ips"][0] == victim["host"])
            director.cli("ssh", "-d", "cf", f"dea/{dea['id']}", "-c",
                         f"kill -9 $(cat /sys/fs/cgroup/pids/dea/{victim['instance']}/cgroup.procs)")
            time.sleep(5)
        time.sleep(1)
    raise RuntimeError("the app's instances did not come to run on both DEAs within 180 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--case", choices=("kv", "dea", "all"), default="all")
    args = parser.parse_args()
    cases = {"kv": ("plain job with a persistent disk (kv)", kv_case), "dea": ("DEA (app through HAProxy)", dea_case)}
    table = Table(title=f"bosh-py heal benchmark: seconds after kill -9 of a VM (median of {args.kills}; goal: "
                        f"answering ≤ 15 s)")
    table.add_column("case")
    for stage in (*VM_STAGES, "answering", "all instances running"):
        table.add_column(stage, justify="right")
    table.add_column("failed requests", justify="right")
    for name, (label, case) in cases.items():
        if args.case not in ("all", name):
            continue
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-") as tmp:
            figures = case(Path(tmp), args.kills)
        stages = (*VM_STAGES, "answering" if name == "kv" else "app answering", "all instances running")
        medians = [f"{statistics.median(f[stage] for f in figures):.1f}" if stage in figures[0] else "—"
                   for stage in stages]
        failed = str(sum(int(f["failed requests"]) for f in figures)) if name == "dea" else "—"
        table.add_row(label, *medians, failed)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
