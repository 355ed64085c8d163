#!/usr/bin/env python3
"""Rollout benchmark: how close a one-property rollout comes to the `update` block's
lower bound.

A rollout cannot finish before its watch times have passed: the canaries one after another
(``canaries × canary_watch_time low``), then each AZ in turn in batches of max_in_flight
(``Σ over AZs of ceil(instances left in the AZ / max_in_flight) × update_watch_time low``).
Everything else (drain, stop, apply, start, the director's own work) is overhead; the goal
is a wall time within 1.2× of the bound. Rows: the testrel `web` job on local-CPI VMs in
two AZs, one property changed per rollout, for a few update blocks; medians of ``--runs``.

Run as root: `.venv/bin/python bench/rollout.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.e2e.manifests import web_manifest, write  # noqa: E402
from tests.harness import LocalDirector, ensure_stemcell  # noqa: E402

AZS = ("z1", "z2")  # web_manifest's, instances placed round-robin


@dataclass(frozen=True)
class Shape:
    instances: int
    canaries: int
    max_in_flight: int
    watch_ms: int  # the low end of both watch times

    @property
    def label(self) -> str:
        return (f"{self.instances} instances, canaries {self.canaries}, max_in_flight {self.max_in_flight}, "
                f"watch {self.watch_ms / 1000:g} s")

    def lower_bound(self) -> float:
        per_az = {az: 0 for az in AZS}
        for index in range(self.instances):
            per_az[AZS[index % len(AZS)]] += 1
        left = self.canaries  # canaries come out of the AZs in their order (stages/rollout.py)
        for az in AZS:
            taken = min(left, per_az[az])
            per_az[az] -= taken
            left -= taken
        batches = sum(math.ceil(n / self.max_in_flight) for n in per_az.values())
        return (self.canaries + batches) * self.watch_ms / 1000 if self.watch_ms else 0.0

    def manifest(self, message: str) -> dict:
        manifest = web_manifest("rollout", instances=self.instances, message=message,
                                max_in_flight=self.max_in_flight, disk=False)
        watch = f"{self.watch_ms}-60000"
        manifest["update"].update(canaries=self.canaries, canary_watch_time=watch, update_watch_time=watch)
        return manifest


SHAPES = (Shape(6, 1, 2, 3000), Shape(6, 1, 1, 2000), Shape(8, 1, 4, 3000))


def one_run(tmp: Path) -> dict[Shape, float]:
    director = LocalDirector(tmp / "director")
    walls: dict[Shape, float] = {}
    try:
        director.start()
        director.cli("upload-stemcell", str(ensure_stemcell()))
        director.update_cloud_config()
        release = tmp / "testrel"
        shutil.copytree(REPO / "tests/fixtures/releases/testrel", release)
        director.cli("upload-release", str(release))
        for shape in SHAPES:
            director.cli("deploy", "-n", write(tmp, shape.manifest("hello")))
            started = time.perf_counter()
            director.cli("deploy", "-n", write(tmp, shape.manifest("bonjour")))
            walls[shape] = time.perf_counter() - started
            director.cli("delete-deployment", "-d", "rollout", "-n")
    finally:
        director.stop()
    return walls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-") as tmp:
            runs.append(one_run(Path(tmp)))
        print(f"run {number + 1}/{args.runs} done", file=sys.stderr)
    table = Table(title=f"bosh-py rollout benchmark (median of {args.runs} runs; goal ≤ 1.2× the lower bound)")
    for column in ("update block", "lower bound (s)", "rollout (s)", "runs (s)", "rollout / bound"):
        table.add_column(column, justify="left" if column == "update block" else "right")
    for shape in SHAPES:
        walls = [run[shape] for run in runs]
        median = statistics.median(walls)
        bound = shape.lower_bound()
        table.add_row(shape.label, f"{bound:.1f}", f"{median:.1f}", ", ".join(f"{w:.1f}" for w in walls),
                      f"{median / bound:.2f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
