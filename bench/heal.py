#!/usr/bin/env python3
"""Heal benchmark: a VM killed (its keeper, kill -9, as a host failure) on the health
monitor's defaults, timed through each stage of its healing:

  kill → detected (the monitor's first event about it) → VM recreated (a new VM cid
  recorded) → jobs running → answering again

for a plain job with a persistent disk (tests/fixtures/releases/kv-bosh: the value written
before the kill must be read back after) and for a DEA of deployments/cf.yml (answering: the
pushed app's 3 instances answer through HAProxy again; the app never stops answering, the
other DEA carries it). Medians of ``--kills`` kills per case; the goal is "answering"
within 15 s. Run as root: `.venv/bin/python bench/heal.py [--kills 5] [--case kv|dea|all]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.e2e.cf_support import DOMAIN, deploy_cf  # noqa: E402
from tests.e2e.heal_support import kill_keeper  # noqa: E402
from tests.e2e.manifests import write  # noqa: E402
from tests.harness import LocalDirector, ensure_stemcell  # noqa: E402
from tests.load_support import LoadGenerator  # noqa: E402

STAGES = ("detected", "VM recreated", "jobs running", "answering")
DETECTIONS = {"vm missing", "agent disconnected", "unresponsive", "resurrect"}
KV_PORT = 7480


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


def one_kill(director: LocalDirector, deployment: str, group: str, answering: Callable[[], bool]) -> dict[str, float]:
    """Kill the group's first VM and time each stage of its healing (polled every 0.2 s)."""
    victim = next(r for r in director.json("instances", "-d", deployment) if r["group"] == group)
    seen_events = {e["id"] for e in director.json("events", "-d", deployment)}
    kill_keeper(director, victim["vm_cid"])
    killed = time.monotonic()
    at: dict[str, float] = {}
    while len(at) < len(STAGES):
        if time.monotonic() - killed > 300:
            raise RuntimeError(f"{group}: not healed after 300 s (stages reached: {sorted(at)})")
        now = time.monotonic() - killed
        if "detected" not in at and any(e["id"] not in seen_events and e["action"] in DETECTIONS
                                        for e in director.json("events", "-d", deployment)):
            at["detected"] = now
        row = next(r for r in director.json("instances", "-d", deployment) if r["id"] == victim["id"])
        if "VM recreated" not in at and row["vm_cid"] not in (None, victim["vm_cid"]):
            at["VM recreated"] = now
        if "VM recreated" in at and "jobs running" not in at and row["process_state"] == "running":
            at["jobs running"] = now
        if "jobs running" in at and answering():
            at["answering"] = now
        time.sleep(0.2)
    for stage in STAGES[1:]:  # a stage seen in the same poll as a later one happened by then
        at.setdefault(stage, at["answering"])
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
            figures.append(one_kill(director, "kv", "kv", lambda: kv(ip, "/") is not None))
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
        cf.cf_py("push", "hello", "-p", str(REPO / "examples/hello"), "-m", "64M", "-i", "3")
        url, host = f"http://{cf.ips['haproxy'][0]}/", f"hello.{DOMAIN}"

        def three_answer() -> bool:
            with LoadGenerator(url, host, interval=0.01) as load:
                load.wait_for(15)
            return len(load.result.bodies) == 3

        for number in range(kills):
            with LoadGenerator(url, host) as load:
                figures.append(one_kill(director, "cf", "dea", three_answer))
            figures[-1]["failed requests"] = load.result.failed
            print(f"dea kill {number + 1}/{kills}: {figures[-1]} ({load.result.sent} requests)", file=sys.stderr)
    finally:
        director.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--case", choices=("kv", "dea", "all"), default="all")
    args = parser.parse_args()
    cases = {"kv": ("plain job with a persistent disk (kv)", kv_case), "dea": ("DEA (app through HAProxy)", dea_case)}
    table = Table(title=f"bosh-py heal benchmark: seconds after kill -9 of a VM (median of {args.kills}; goal: "
                        f"answering ≤ 15 s)")
    table.add_column("case")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_column("failed requests", justify="right")
    for name, (label, case) in cases.items():
        if args.case not in ("all", name):
            continue
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-") as tmp:
            figures = case(Path(tmp), args.kills)
        medians = [f"{statistics.median(f[stage] for f in figures):.1f}" for stage in STAGES]
        failed = str(sum(int(f["failed requests"]) for f in figures)) if name == "dea" else "—"
        table.add_row(label, *medians, failed)
    Console().print(table)


if __name__ == "__main__":
    main()
