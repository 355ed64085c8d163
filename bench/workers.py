#!/usr/bin/env python3
"""Director workers benchmark: prints a table.

Rows: wall time of ``--deployments`` deployments (``--instances`` each) deployed at once by a
director whose tasks run in the API process (0 workers), in 1 worker and in 2 workers, as
medians of ``--runs``, and their ratios; then the peak memory (VmHWM) of the API process and
of each worker after one deployment of ``--rss-instances`` instances with 2 workers.

The director is real, on a throwaway PostgreSQL (Debian's package), with the dummy CPI
(cpi/dummy: each VM is a real agent process on this host, no namespaces), so what is
measured is the director's side: planning, rendering, agent round trips, the database,
and the host's CPU that the agents share with it. Run as root:
`.venv/bin/python bench/workers.py [--runs 3]`. Everything is deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.director.dummy_support import BIN, DummyDirector, manifest  # noqa: E402
from tests.director.postgres import running_postgres  # noqa: E402


def peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def processes(director: DummyDirector) -> dict[str, int]:
    """'api' and 'worker N' -> pid: the API process and the workers it started."""
    api = int((director.data_dir / "director.pid").read_text())
    found = {"api": api}
    children = Path(f"/proc/{api}/task/{api}/children").read_text().split()
    workers = [int(p) for p in children if b"bosh_py.director.worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
    found.update({f"worker {n + 1}": pid for n, pid in enumerate(sorted(workers))})
    return found


def deploy_at_once(director: DummyDirector, root: Path, deployments: int, instances: int, greeting: str) -> float:
    paths = []
    for n in range(deployments):
        doc = manifest(instances=instances, greeting=greeting)
        doc["name"] = f"bench-{n}"
        path = root / f"bench-{n}.yml"
        path.write_text(yaml.safe_dump(doc))
        paths.append(path)
    started = time.perf_counter()
    running = [subprocess.Popen([str(BIN / "bosh-py"), "deploy", "-n", str(p)], env=director.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for p in paths]
    outputs = [r.communicate(timeout=1800)[0] for r in running]
    elapsed = time.perf_counter() - started
    for process, output in zip(running, outputs):
        if process.returncode != 0:
            raise SystemExit(f"a deploy failed:\n{output[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deployments", type=int, default=4)
    parser.add_argument("--instances", type=int, default=5, help="instances per deployment (default 5)")
    parser.add_argument("--rss-instances", type=int, default=100, help="0 skips the memory rows")
    args = parser.parse_args()
    console = Console()
    times: dict[int, list[float]] = {0: [], 1: [], 2: []}
    rss: dict[str, int] = {}
    with running_postgres() as postgres, tempfile.TemporaryDirectory(prefix="bosh-py-bench-workers-") as tmp:
        for workers in times:
            for run in range(args.runs):
                root = Path(tmp) / f"w{workers}-r{run}"
                director = DummyDirector(root, config={"db_url": postgres.create_database(), "workers": workers})
                try:
                    director.start()
                    times[workers].append(deploy_at_once(director, root, args.deployments, args.instances, "fresh"))
                    console.print(f"{workers} workers, run {run + 1}: {times[workers][-1]:.1f} s")
                finally:
                    director.stop()
        if args.rss_instances:
            root = Path(tmp) / "rss"
            director = DummyDirector(root, config={"db_url": postgres.create_database(), "workers": 2})
            try:
                director.start()
                deploy_at_once(director, root, 1, args.rss_instances, "fresh")
                rss = {name: peak_kb(pid) for name, pid in processes(director).items()}
            finally:
                director.stop()

    table = Table(title=f"{args.deployments} deployments of {args.instances} instances deployed at once "
                        f"(dummy CPI, PostgreSQL; medians of {args.runs})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    medians = {w: statistics.median(t) for w, t in times.items()}
    for workers, median in medians.items():
        where = "in the API process" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"
        table.add_row(f"wall time, tasks {where} (s)", f"{median:.1f}")
    table.add_row("1 worker / 2 workers", f"{medians[1] / medians[2]:.2f}x")
    table.add_row("API process only / 2 workers", f"{medians[0] / medians[2]:.2f}x")
    for name, kb in rss.items():
        table.add_row(f"peak RSS of the {name} after {args.rss_instances} instances (MiB)", f"{kb / 1024:.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
