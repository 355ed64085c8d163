#!/usr/bin/env python3
"""Deploy benchmark: prints a table of wall times and the director's peak memory.

Rows: fresh deploy of 3 and of 20 instances, a no-op redeploy of 20, a one-property change
rolled to 20 with max_in_flight 100%, and the same change (same template, then a restart of
the web process) made by an Ansible playbook over SSH on the same 20 VMs, in one run.
Run as root: `.venv/bin/python bench/deploy.py [--runs 3]`; figures are medians of the runs.
"""

from __future__ import annotations

import argparse
import os
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


def ansible_change(director: LocalDirector, tmp: Path, message: str) -> float:
    """Same template and restart as the bosh-py rollout, by ansible-playbook over SSH."""
    rows = director.json("instances", "-d", "bench20")
    known = tmp / "known_hosts"
    known.write_text("".join(f"{r['ips'][0]} {r['host_public_key']}\n" for r in rows))
    inventory = tmp / "inventory.ini"
    inventory.write_text("[web]\n" + "".join(
        f"web{r['index']} ansible_host={r['ips'][0]} web_index={r['index']}\n" for r in rows))
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_PIPELINING": "True",
           "ANSIBLE_SSH_ARGS": f"-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known} "
                               f"-o StrictHostKeyChecking=yes",
           "ANSIBLE_PRIVATE_KEY_FILE": str(director.data_dir / "ssh" / "id_ed25519"),
           "ANSIBLE_REMOTE_USER": "root", "ANSIBLE_FORKS": "20", "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False"}
    playbook = REPO / "bench" / "ansible" / "web.yml"
    started = time.perf_counter()
    subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", f"message={message}"],
                   env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def one_run(tmp: Path) -> dict[str, float]:
    director = LocalDirector(tmp / "director")
    figures: dict[str, float] = {}
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

        figures["fresh deploy, 3 instances (s)"] = timed(
            director, "deploy", "-n", write(tmp, web_manifest("bench3", instances=3, disk=False)))
        director.cli("delete-deployment", "-d", "bench3", "-n")
        manifest20 = web_manifest("bench20", instances=20, max_in_flight="100%", disk=False)
        figures["fresh deploy, 20 instances (s)"] = timed(director, "deploy", "-n", write(tmp, manifest20))
        figures["no-op redeploy, 20 instances (s)"] = timed(director, "deploy", "-n", write(tmp, manifest20))
        changed = web_manifest("bench20", instances=20, max_in_flight="100%", disk=False, message="bonjour")
        figures["property rollout to 20, max_in_flight 100% (s)"] = timed(
            director, "deploy", "-n", write(tmp, changed))
        figures["same change by ansible-playbook on the 20 VMs (s)"] = ansible_change(director, tmp, "bonjour")
        figures["director peak RSS (MiB)"] = director_peak_kb(director) / 1024
        director.cli("delete-deployment", "-d", "bench20", "-n")
    finally:
        director.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-") as tmp:
            runs.append(one_run(Path(tmp)))
        print(f"run {number + 1}/{args.runs} done", file=sys.stderr)
    table = Table(title=f"bosh-py deploy benchmark (median of {args.runs} runs; 2-core machine)")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("runs", justify="right")
    for key in runs[0]:
        values = [run[key] for run in runs]
        table.add_row(key, f"{statistics.median(values):.2f}", ", ".join(f"{v:.2f}" for v in values))
    rollout = statistics.median(r["property rollout to 20, max_in_flight 100% (s)"] for r in runs)
    ansible = statistics.median(r["same change by ansible-playbook on the 20 VMs (s)"] for r in runs)
    table.add_row("ansible time / bosh-py rollout time", f"{ansible / rollout:.1f}x", "")
    Console().print(table)


if __name__ == "__main__":
    main()
