#!/usr/bin/env python3
"""Deploy benchmark: prints a table of wall times and the director's peak memory.

Rows: fresh deploy of 3 and of N instances (``--instances``, default 20), a no-op redeploy
of N, a one-property change rolled to N with ``--max-in-flight`` (default 100%), and the
same change (same template, then a restart of the web process) made by an Ansible playbook
(bench/ansible) and by pyinfra 3.x (bench/pyinfra, ``--parallel N``) over SSH on the same N
VMs; every change is checked on the VMs (each serves the new page). pyinfra runs from its
own venv, made on first use under ~/.cache/bosh-py-bench/pyinfra-venv (pip, PyPI), so the
product's venv does not gain its dependencies. ``--deploy-only`` keeps the fresh deploy and
no-op rows of N (the 100-instance scale check: ``--instances 100 --azs 3 --deploy-only
--runs 1``); ``--rollout-only`` skips the 3-instance row and the Ansible and pyinfra rows
(for working on the rollout). More tables say where the last run's fresh deploy of N spent
its time, stage by stage, from the task's event log, with the nats-server reloads it
caused, and where its rollout went, from the director's "Timing" debug lines
(bosh_py/director/steps/timing.py, bosh_py/director/jobs/deploy.py): the time before the
first instance was touched (plan, render, decide) with each deploy stage's share, each
batch, and per instance each step (upload, prepare = the agent's blob fetch, stop, apply,
start, the watch with its get_state polls, post-start).

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
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bosh_py.director.steps.timing import parse_line  # noqa: E402
from tests.e2e.manifests import web_manifest, write  # noqa: E402
from tests.harness import LocalDirector, ensure_stemcell  # noqa: E402

BIN = Path(sys.executable).parent
PYINFRA_VERSION = "3.10.0"
PYINFRA_VENV = Path.home() / ".cache" / "bosh-py-bench" / "pyinfra-venv"
PORTS = {"bosh-py": 8080, "ansible": 8081, "pyinfra": 8082}  # the web job's, bench/ansible's, bench/pyinfra's
STEPS = ("upload", "prepare", "stop", "vm", "swap", "disk", "apply", "start", "watch", "post-start")


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


def rollout_breakdown(director: LocalDirector, task_id: int) -> dict:
    """The rollout's "Timing" lines of a task's debug log: {"before": s, "rollout": s,
    "batches": [(name, s)], "steps": {step: [s per instance]}, "polls": [n per instance],
    "stages": {deploy stage: s}}."""
    found: dict = {"before": None, "rollout": None, "batches": [], "steps": {}, "polls": [], "stages": {}}
    for line in (director.data_dir / "tasks" / str(task_id) / "debug").read_text().splitlines():
        text = line.split(" ", 1)[1] if " " in line else line
        if text.startswith("Timing before rollout: "):
            found["before"] = float(text.split()[3])
            began = re.search(r"began at ([\d.]+)", text)
            found["began"] = float(began.group(1)) if began else None
        elif text.startswith("Timing rollout: "):
            found["rollout"] = float(text.split()[2])
            ended = re.search(r"ended at ([\d.]+)", text)
            found["ended"] = float(ended.group(1)) if ended else None
        elif stage := re.match(r"Timing stage (\w+): ([\d.]+) s", text):
            found["stages"][stage.group(1)] = float(stage.group(2))
        elif re.match(r"Timing \S+ (canary|batch) \d+: ", text):
            name, seconds = text[len("Timing "):].split(": ")
            found["batches"].append((name, float(seconds.split()[0])))
        elif (parsed := parse_line(text)) is not None:
            _, spans, polls = parsed
            for step, seconds in spans.items():
                found["steps"].setdefault(step, []).append(seconds)
            found["polls"].append(polls)
    return found


def check_pages(director: LocalDirector, deployment: str, tool: str, message: str) -> None:
    """Every VM serves the page ``tool`` made with ``message``: the change really happened."""
    rows = director.json("instances", "-d", deployment)

    def page(row: dict) -> tuple[dict, str]:
        url = f"http://{row['ips'][0]}:{PORTS[tool]}/"
        for _ in range(50):  # a just-restarted server may not listen yet
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return row, response.read().decode(errors="replace")
            except OSError:
                time.sleep(0.1)
        return row, "(no answer)"

    with ThreadPoolExecutor(max_workers=16) as pool:
        wrong = [f"web/{row['index']}: {text.strip()!r}" for row, text in pool.map(page, rows)
                 if not text.startswith(f"{message} from web/{row['index']} ")]
    if wrong:
        raise AssertionError(f"{tool}: {len(wrong)} VM(s) do not serve the new page: {'; '.join(wrong[:5])}")


def ssh_inventory(director: LocalDirector, tmp: Path, deployment: str) -> tuple[list[dict], Path]:
    """The deployment's instances and a known_hosts file pinning their host keys."""
    rows = director.json("instances", "-d", deployment)
    known = tmp / "known_hosts"
    known.write_text("".join(f"{r['ips'][0]} {r['host_public_key']}\n" for r in rows))
    return rows, known


def pyinfra_bin() -> Path:
    """pyinfra from its own venv, made (and pyinfra installed from PyPI) on first use."""
    exe = PYINFRA_VENV / "bin" / "pyinfra"
    if not exe.exists():
        PYINFRA_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(PYINFRA_VENV)], check=True)
        subprocess.run([str(PYINFRA_VENV / "bin" / "pip"), "install", "-q", f"pyinfra=={PYINFRA_VERSION}"], check=True)
    return exe


def pyinfra_change(director: LocalDirector, tmp: Path, message: str, deployment: str, parallel: int) -> float:
    """Same template and restart as the bosh-py rollout, by pyinfra over SSH."""
    rows, known = ssh_inventory(director, tmp, deployment)
    inventory = tmp / "pyinfra_inventory.py"
    inventory.write_text("web = [\n" + "".join(
        f"    ({r['ips'][0]!r}, {{'web_index': {int(r['index'])}}}),\n" for r in rows) + "]\n")
    command = [str(pyinfra_bin()), "-y", "--parallel", str(parallel), "--ssh-user", "root",
               "--ssh-key", str(director.data_dir / "ssh" / "id_ed25519"),
               "--data", f"message={message}", "--data", f"ssh_known_hosts_file={known}",
               "--data", "ssh_strict_host_key_checking=yes", str(inventory), str(REPO / "bench" / "pyinfra" / "web.py")]
    started = time.perf_counter()
    result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=tmp)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise AssertionError(f"pyinfra exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return took


def ansible_change(director: LocalDirector, tmp: Path, message: str, deployment: str, forks: int) -> float:
    """Same template and restart as the bosh-py rollout, by ansible-playbook over SSH."""
    rows, known = ssh_inventory(director, tmp, deployment)
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


def rollout_row(instances: int, max_in_flight: str) -> str:
    return f"property rollout to {instances}, max_in_flight {max_in_flight} (s)"


def one_run(tmp: Path, args: argparse.Namespace, breakdown: list, rollout: dict) -> dict[str, float]:
    instances, azs, deploy_only = args.instances, args.azs, args.deploy_only
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

        if not deploy_only and not args.rollout_only:
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
            changed = web(big, instances, azs, max_in_flight=args.max_in_flight, message="bonjour")
            cli_started = time.time()
            took, task_id = timed_task(director, "deploy", "-n", write(tmp, changed))
            cli_ended = time.time()
            figures[rollout_row(instances, args.max_in_flight)] = took
            check_pages(director, big, "bosh-py", "bonjour")
            rollout.clear()
            rollout.update(rollout_breakdown(director, task_id), total=took, cli_started=cli_started,
                           cli_ended=cli_ended)
        if not deploy_only and not args.rollout_only:
            figures[f"same change by ansible-playbook on the {instances} VMs (s)"] = ansible_change(
                director, tmp, "bonjour", big, instances)
            check_pages(director, big, "ansible", "bonjour")
            figures[f"same change by pyinfra {PYINFRA_VERSION} --parallel {instances} (s)"] = pyinfra_change(
                director, tmp, "bonjour", big, instances)
            check_pages(director, big, "pyinfra", "bonjour")
        figures["director peak RSS (MiB)"] = director_peak_kb(director) / 1024
        director.cli("delete-deployment", "-d", big, "-n")
    finally:
        director.stop()
    return figures


def max_in_flight_option(text: str) -> str:
    """A count (``5``) or a percentage (``25%``), as the manifest's update block takes it."""
    if not re.fullmatch(r"[1-9]\d*%?", text) or (text.endswith("%") and int(text[:-1]) > 100):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count such as 5 or a percentage from 1% to 100%")
    return text


def print_rollout(rollout: dict, args: argparse.Namespace) -> None:
    """Where the last run's rollout went, from the director's Timing lines."""
    table = Table(title=f"where the last rollout to {args.instances} went (max_in_flight {args.max_in_flight}; "
                        f"director debug log)")
    for column in ("part", "instances", "median (s)", "max (s)"):
        table.add_column(column, justify="left" if column == "part" else "right")
    before, during, total = rollout.get("before"), rollout.get("rollout"), rollout["total"]
    table.add_row("the whole deploy command (CLI)", "", f"{total:.2f}", "")
    if rollout.get("began") is not None:
        table.add_row("CLI start, manifest upload, task queued", "",
                      f"{rollout['began'] - rollout['cli_started']:.2f}", "")
    if before is not None:
        table.add_row("task: before the rollout (plan, render, compile, decide)", "", f"{before:.2f}", "")
    stages = rollout["stages"]
    rollout_at = list(stages).index("update_groups") if "update_groups" in stages else len(stages)
    for name in list(stages)[:rollout_at]:
        table.add_row(f"  stage {name}", "", f"{stages[name]:.3f}", "")
    if during is not None:
        table.add_row("task: the rollout (all batches)", "", f"{during:.2f}", "")
    for name, seconds in rollout["batches"]:
        table.add_row(f"  {name}", "", f"{seconds:.2f}", "")
    if rollout.get("ended") is not None:
        table.add_row("after the rollout (post-deploy, record, task end, CLI)", "",
                      f"{rollout['cli_ended'] - rollout['ended']:.2f}", "")
    for name in list(stages)[rollout_at + 1:]:
        table.add_row(f"  stage {name}", "", f"{stages[name]:.3f}", "")
    steps = rollout["steps"]
    for step in [s for s in STEPS if s in steps] + sorted(set(steps) - set(STEPS)):
        values = steps[step]
        label = {"prepare": "prepare (agent: blob fetch, unpack)",
                 "watch": f"watch ({web_manifest()['update']['update_watch_time']} ms: the low end, then get_state polls)"}.get(step, step)
        table.add_row(f"step: {label}", str(len(values)), f"{statistics.median(values):.3f}", f"{max(values):.3f}")
    if rollout["polls"]:
        table.add_row("get_state polls per instance", str(len(rollout["polls"])),
                      f"{statistics.median(rollout['polls']):g}", f"{max(rollout['polls'])}")
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20, help="size of the big deployment (default 20)")
    parser.add_argument("--azs", type=int, default=2, choices=(1, 2, 3), help="AZs it spans (default 2)")
    parser.add_argument("--deploy-only", action="store_true",
                        help="only the fresh deploy and no-op redeploy of --instances")
    parser.add_argument("--rollout-only", action="store_true",
                        help="no 3-instance row, no Ansible or pyinfra row: deploy, no-op and the bosh-py rollout")
    parser.add_argument("--max-in-flight", default="100%", type=max_in_flight_option,
                        help="the rollout's update.max_in_flight: a count or a percentage (default 100%%)")
    args = parser.parse_args()
    if not 1 <= args.instances <= 240:
        parser.error(f"--instances {args.instances}: the bench's /24 holds 1 to 240 instances")
    if args.deploy_only and args.rollout_only:
        parser.error("--deploy-only and --rollout-only exclude each other")
    if not args.deploy_only and not args.rollout_only:
        pyinfra_bin()  # made before the first run, so its install is not timed
    runs = []
    breakdown: list = []
    rollout: dict = {}
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-") as tmp:
            runs.append(one_run(Path(tmp), args, breakdown, rollout))
        print(f"run {number + 1}/{args.runs} done", file=sys.stderr)
    table = Table(title=f"bosh-py deploy benchmark (median of {args.runs} runs; 2-core machine)")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("runs", justify="right")
    for key in runs[0]:
        values = [run[key] for run in runs]
        table.add_row(key, f"{statistics.median(values):.2f}", ", ".join(f"{v:.2f}" for v in values))
    if not args.deploy_only and not args.rollout_only:
        ours = statistics.median(r[rollout_row(args.instances, args.max_in_flight)] for r in runs)
        ansible = statistics.median(r[f"same change by ansible-playbook on the {args.instances} VMs (s)"] for r in runs)
        pyinfra = statistics.median(
            r[f"same change by pyinfra {PYINFRA_VERSION} --parallel {args.instances} (s)"] for r in runs)
        table.add_row("ansible time / bosh-py rollout time", f"{ansible / ours:.2f}x", "")
        table.add_row("bosh-py rollout time / pyinfra time", f"{ours / pyinfra:.2f}x", "")
    Console().print(table)
    if rollout:
        print_rollout(rollout, args)
    stages = Table(title=f"where the last fresh deploy of {args.instances} instances went (event log, 1 s resolution)")
    for column in ("stage", "tasks", "wall (s)", "median task (s)", "max task (s)"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for stage, tasks, wall, median, longest in breakdown:
        stages.add_row(stage, str(tasks), f"{wall:.0f}", f"{median:.0f}", f"{longest:.0f}")
    Console().print(stages)


if __name__ == "__main__":
    main()
