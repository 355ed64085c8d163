#!/usr/bin/env python3
"""Deploy benchmark: prints a table of wall times and the director's peak memory.

Rows: fresh deploy of 3 and of N instances (``--instances``, default 20), a no-op redeploy
of N, a one-property change rolled to N with max_in_flight 100%, and the same change (same
template, then a restart of the web process) made by an Ansible playbook over SSH on the
same N VMs, in one run. ``--deploy-only`` keeps the fresh deploy and no-op rows of N (the
100-instance scale check: ``--instances 100 --azs 3 --deploy-only --runs 1``). A second
table says where the last run's fresh deploy of N spent its time, stage by stage, from the
task's event log, with the nats-server reloads it caused.

Run as root: `.venv/bin/python bench/deploy.py [--runs 3]`; figures are medians of the runs.
VMs live on the test net of BOSH_PY_TEST_NET (tests/harness.py: bridge boshpytN, a /24 with
245 usable addresses, so at most ~240 instances); everything is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.e2e.manifests import web_manifest, write  # noqa: E402
from tests.harness import LocalDirector, ensure_stemcell  # noqa: E402

BIN = Path(sys.executable).parent


def director_peak_kb(director: LocalDirector) -> int:
    pid = int((director.data_dir / "director.pid").read_text())
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def timed(director: LocalDirector, *args: str) -> float:
    started = time.perf_counter()
    director.cli(*args)
    return time.perf_counter() - started


def timed_task(director: LocalDirector, *args: str) -> tuple[float, int]:
    """Wall time of a CLI command and the id of the director task it followed."""
    started = time.perf_counter()
    result = director.cli(*args)
    took = time.perf_counter() - started
    match = re.search(r"^Task (\d+)$", result.stdout, re.MULTILINE)
    if not match:
        raise AssertionError(f"no task id in the output of bosh-py {' '.join(args)}:\n{result.stdout}")
    return took, int(match.group(1))


def nats_reloads(director: LocalDirector) -> int:
    """Confirmed config reloads in the director's nats-server log so far."""
    log = director.data_dir / "nats" / "nats.log"
    return log.read_text(errors="replace").count("Reloaded server configuration") if log.exists() else 0


def stage_breakdown(director: LocalDirector, task_id: int) -> list[tuple[str, int, float, float, float]]:
    """Per stage of a task, from its event log (1 s resolution): (stage, tasks, wall seconds
    from its first start to its last end, median and max seconds of one task)."""
    starts: dict[tuple[str, str], int] = {}
    stages: dict[str, list[tuple[int, int]]] = {}
    for line in (director.data_dir / "tasks" / str(task_id) / "event").read_text().splitlines():
        event = json.loads(line)
        if "stage" not in event:
            continue
        key = (event["stage"], event["task"])
        if event["state"] == "started":
            starts[key] = event["time"]
        elif key in starts:
            stages.setdefault(event["stage"], []).append((starts.pop(key), event["time"]))
    rows = []
    for stage, spans in stages.items():
        durations = [end - start for start, end in spans]
        wall = max(end for _, end in spans) - min(start for start, _ in spans)
        rows.append((stage, len(spans), float(wall), statistics.median(durations), float(max(durations))))
    return rows


def ansible_change(director: LocalDirector, tmp: Path, message: str, deployment: str, forks: int) -> float:
    """Same template and restart as the bosh-py rollout, by ansible-playbook over SSH."""
    rows = director.json("instances", "-d", deployment)
    known = tmp / "known_hosts"
    known.write_text("".join(f"{r['ips'][0]} {r['host_public_key']}\n" for r in rows))
    inventory = tmp / "inventory.ini"
    inventory.write_text("[web]\n" + "".join(
        f"web{r['index']} ansible_host={r['ips'][0]} web_index={r['index']}\n" for r in rows))
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_PIPELINING": "True",
           "ANSIBLE_SSH_ARGS": f"-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known} "
                               f"-o StrictHostKeyChecking=yes",
           "ANSIBLE_PRIVATE_KEY_FILE": str(director.data_dir / "ssh" / "id_ed25519"),
           "ANSIBLE_REMOTE_USER": "root", "ANSIBLE_FORKS": str(forks), "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False"}
    playbook = REPO / "bench" / "ansible" / "web.yml"
    started = time.perf_counter()
    subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", f"message={message}"],
                   env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def web(name: str, instances: int, azs: int, **options: object) -> dict:
    """The web manifest of tests/e2e, spread over the first ``azs`` AZs of the cloud-config."""
    manifest = web_manifest(name, instances=instances, disk=False, **options)  # type: ignore[arg-type]
    manifest["instance_groups"][0]["azs"] = [f"z{n + 1}" for n in range(azs)]
    return manifest


def one_run(tmp: Path, instances: int, azs: int, deploy_only: bool, breakdown: list) -> dict[str, float]:
    director = LocalDirector(tmp / "director")
    figures: dict[str, float] = {}
    big = f"bench{instances}"
    try:
        director.start()
        director.cli("upload-stemcell", str(ensure_stemcell()))
        director.update_cloud_config()
        release = tmp / "testrel"
        shutil.copytree(REPO / "tests/fixtures/releases/testrel", release)
        director.cli("upload-release", str(release))
        # warm the compiled-package cache so the rows measure deploys, not the one-off compile
        director.cli("deploy", "-n", write(tmp, web_manifest("warm", instances=1, disk=False)))
        director.cli("delete-deployment", "-d", "warm", "-n")

        if not deploy_only:
            figures["fresh deploy, 3 instances (s)"] = timed(
                director, "deploy", "-n", write(tmp, web("bench3", 3, azs)))
            director.cli("delete-deployment", "-d", "bench3", "-n")
        manifest = web(big, instances, azs, max_in_flight="100%")
        reloads_before = nats_reloads(director)
        took, task_id = timed_task(director, "deploy", "-n", write(tmp, manifest))
        figures[f"fresh deploy, {instances} instances (s)"] = took
        figures[f"nats-server reloads during it (for {instances} agents)"] = nats_reloads(director) - reloads_before
        breakdown[:] = stage_breakdown(director, task_id)
        figures[f"no-op redeploy, {instances} instances (s)"] = timed(director, "deploy", "-n", write(tmp, manifest))
        if not deploy_only:
            changed = web(big, instances, azs, max_in_flight="100%", message="bonjour")
            figures[f"property rollout to {instances}, max_in_flight 100% (s)"] = timed(
                director, "deploy", "-n", write(tmp, changed))
            figures[f"same change by ansible-playbook on the {instances} VMs (s)"] = ansible_change(
                director, tmp, "bonjour", big, instances)
        figures["director peak RSS (MiB)"] = director_peak_kb(director) / 1024
        director.cli("delete-deployment", "-d", big, "-n")
    finally:
        director.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20, help="size of the big deployment (default 20)")
    parser.add_argument("--azs", type=int, default=2, choices=(1, 2, 3), help="AZs it spans (default 2)")
    parser.add_argument("--deploy-only", action="store_true",
                        help="only the fresh deploy and no-op redeploy of --instances")
    args = parser.parse_args()
    if not 1 <= args.instances <= 240:
        parser.error(f"--instances {args.instances}: the bench's /24 holds 1 to 240 instances")
    runs = []
    breakdown: list = []
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-") as tmp:
            runs.append(one_run(Path(tmp), args.instances, args.azs, args.deploy_only, breakdown))
        print(f"run {number + 1}/{args.runs} done", file=sys.stderr)
    table = Table(title=f"bosh-py deploy benchmark (median of {args.runs} runs; 2-core machine)")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("runs", justify="right")
    for key in runs[0]:
        values = [run[key] for run in runs]
        table.add_row(key, f"{statistics.median(values):.2f}", ", ".join(f"{v:.2f}" for v in values))
    if not args.deploy_only:
        rollout = statistics.median(r[f"property rollout to {args.instances}, max_in_flight 100% (s)"] for r in runs)
        ansible = statistics.median(r[f"same change by ansible-playbook on the {args.instances} VMs (s)"] for r in runs)
        table.add_row("ansible time / bosh-py rollout time", f"{ansible / rollout:.1f}x", "")
    Console().print(table)
    stages = Table(title=f"where the last fresh deploy of {args.instances} instances went (event log, 1 s resolution)")
    for column in ("stage", "tasks", "wall (s)", "median task (s)", "max task (s)"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for stage, tasks, wall, median, longest in breakdown:
        stages.add_row(stage, str(tasks), f"{wall:.0f}", f"{median:.0f}", f"{longest:.0f}")
    Console().print(stages)


if __name__ == "__main__":
    main()
