"""bench/cpi.py's second table: one 20-instance deploy through the EC2 harness (director →
``bosh-py-cpi-libcloud`` → moto → tests/iaas/ec2_vms → real namespace VMs) against the same
deploy on the local CPI, each on its own real director.

The deploy is bench/deploy.py's: testrel's light ``web`` job, 20 instances over z1 and z2,
``max_in_flight: 100%``, no persistent disk, the compiled packages warmed by a 1-instance
deploy first. Each run times ``bosh-py deploy`` of a fresh deployment and its
``delete-deployment``.

The time spent inside CPI calls: the director's task debug log has no per-call duration
(it prints a CPI call only when the CPI returned a log, with one-second stamps), so each
director is started with a small bash wrapper as its CPI executable that records the
method name and the start and end of every call, then runs the real CPI unchanged (the
request is not written anywhere: create_vm's carries the VM's host key). The wrapper costs
a few milliseconds per call, alike on both sides.

Needs root (namespace VMs). ``BOSH_PY_TEST_NET`` picks the bridge and subnet
(tests/harness.py); the two directors run one after the other on it. Everything made is
removed on the way out, after a failure or a Ctrl-C too (a second Ctrl-C is ignored while
cleaning up, see ``cleanup_survives_a_second_interrupt``); as in the tests, each
director's log is kept as /tmp/bosh-py-test-director-bench-cpi-{local,ec2}-director.log.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import signal
import stat
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from rich.table import Table

from tests.e2e.manifests import web_manifest, write
from tests.harness import BIN, REPO, LocalDirector, ensure_stemcell
from tests.iaas.ec2_vms.director import LIBCLOUD_CPI, Ec2Director
from tests.iaas.ec2_vms.harness import Ec2Vms, ec2_with_vms
from tests.iaas.ec2_vms.light_stemcell import write_light_stemcell

INSTANCES = 20
DEPLOYMENT = "bench-cpi20"
DEPLOY_TIMEOUT = 1800.0  # one CLI call for a whole 20-VM deploy on a busy 2-core machine
AWS_CLOUD_CONFIG = REPO / "deployments/cloud-config-aws.yml"

WRAPPER = """#!/bin/bash
# bench/cpi_deploy.py: time each call of the CPI below; only the method name is recorded.
request=$(cat)
started=$EPOCHREALTIME
{cpi} "$@" <<<"$request"
status=$?
ended=$EPOCHREALTIME
method=unknown
[[ $request =~ \\"method\\":\\ *\\"([a-z_]+)\\" ]] && method=${{BASH_REMATCH[1]}}
printf '%s %s %s\\n' "$method" "$started" "$ended" >> {record}
exit $status
"""


@dataclass(frozen=True)
class CpiCall:
    method: str
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class DeployRun:
    """One fresh deploy of the 20 instances and the CPI calls it made."""

    deploy_seconds: float
    delete_seconds: float
    calls: tuple[CpiCall, ...]


@dataclass(frozen=True)
class CallRecord:
    """The wrapper's record file: one ``method start end`` line per finished call."""

    path: Path

    def lines(self) -> int:
        return len(self.path.read_text().splitlines()) if self.path.exists() else 0

    def calls_after(self, line: int) -> tuple[CpiCall, ...]:
        if not self.path.exists():
            return ()
        calls = []
        for text in self.path.read_text().splitlines()[line:]:
            method, started, ended = text.split()
            # $EPOCHREALTIME follows the locale's decimal separator
            calls.append(CpiCall(method, float(started.replace(",", ".")), float(ended.replace(",", "."))))
        return tuple(calls)


def write_wrapper(directory: Path, cpi: Path) -> tuple[Path, CallRecord]:
    """The timing wrapper around ``cpi`` and the record it appends to."""
    record = CallRecord(directory / f"{cpi.name}.calls")
    record.path.touch(mode=0o600)
    wrapper = directory / f"timed-{cpi.name}"
    wrapper.write_text(WRAPPER.format(cpi=shlex.quote(str(cpi)), record=shlex.quote(str(record.path))))
    wrapper.chmod(stat.S_IRWXU)
    return wrapper, record


def with_cpi(args: tuple[str, ...], wrapper: Path | None) -> tuple[str, ...]:
    """``director start`` arguments with the CPI executable swapped for the wrapper."""
    if wrapper is None or args[:2] != ("director", "start") or "--cpi" not in args:
        return args
    at = args.index("--cpi") + 1
    return args[:at] + (str(wrapper),) + args[at + 1:]


@dataclass
class TimedLocalDirector(LocalDirector):
    """tests/harness.py's director on the local CPI, started with the timing wrapper."""

    wrapper: Path | None = None  # None: the CPI itself

    def cli(self, *args: str, **options: Any) -> Any:
        return super().cli(*with_cpi(args, self.wrapper), **options)


@dataclass
class TimedEc2Director(Ec2Director):
    """tests/iaas/ec2_vms's director on the libcloud CPI, started with the timing wrapper."""

    wrapper: Path | None = None  # None: the CPI itself

    def cli(self, *args: str, **options: Any) -> Any:
        return super().cli(*with_cpi(args, self.wrapper), **options)


def busy_seconds(calls: tuple[CpiCall, ...]) -> float:
    """Wall time during which at least one CPI call was running (calls overlap)."""
    total, end = 0.0, float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if call.ended > end:
            total += call.ended - max(call.started, end)
            end = call.ended
    return total


def deploy_runs(director: LocalDirector, record: CallRecord, workdir: Path, runs: int,
                side: str) -> list[DeployRun]:
    """Upload testrel, warm its compiled packages, then ``runs`` fresh 20-instance deploys."""
    release = workdir / "testrel"
    shutil.copytree(REPO / "tests/fixtures/releases/testrel", release)
    director.cli("upload-release", str(release))
    director.cli("deploy", "-n", write(workdir, web_manifest("bench-cpi-warm", instances=1, disk=False)),
                 timeout=DEPLOY_TIMEOUT)
    director.cli("delete-deployment", "-d", "bench-cpi-warm", "-n")
    manifest = write(workdir, web_manifest(DEPLOYMENT, instances=INSTANCES, max_in_flight="100%", disk=False))
    results = []
    for number in range(1, runs + 1):
        line = record.lines()
        started = time.perf_counter()
        director.cli("deploy", "-n", manifest, timeout=DEPLOY_TIMEOUT)
        deployed = time.perf_counter() - started
        calls = record.calls_after(line)
        rows = director.json("instances", "-d", DEPLOYMENT)
        assert isinstance(rows, list)
        with_vm = [row for row in rows if row.get("vm_cid")]
        if len(with_vm) != INSTANCES:
            raise RuntimeError(f"deploy of {DEPLOYMENT} left {len(with_vm)} instances with a VM, not {INSTANCES}")
        if sum(call.method == "create_vm" for call in calls) < INSTANCES:
            raise RuntimeError(f"the timing wrapper ({record.path}) saw fewer than {INSTANCES} create_vm calls")
        started = time.perf_counter()
        director.cli("delete-deployment", "-d", DEPLOYMENT, "-n", timeout=DEPLOY_TIMEOUT)
        results.append(DeployRun(deployed, time.perf_counter() - started, calls))
        print(f"{side}: run {number}/{runs}, deploy {deployed:.1f}s", file=sys.stderr)
    return results


def on_local_cpi(workdir: Path, runs: int) -> list[DeployRun]:
    wrapper, record = write_wrapper(workdir, BIN / "bosh-py-cpi-local")
    director = TimedLocalDirector(workdir / "bench-cpi-local-director", wrapper=wrapper)
    try:
        director.start()
        director.cli("upload-stemcell", str(ensure_stemcell()))
        director.update_cloud_config()
        return deploy_runs(director, record, workdir, runs, "local CPI")
    finally:
        director.stop()  # the local CPI's cleanup removes every VM it made


def aws_cloud_config_vars(ec2: Ec2Vms) -> list[str]:
    """-v flags for deployments/cloud-config-aws.yml: the harness's zones and subnets."""
    flags = []
    for number, (zone, (subnet_id, cidr)) in enumerate(sorted(ec2.subnets.items()), start=1):
        hosts = list(ipaddress.IPv4Network(cidr).hosts())
        for name, value in ((f"z{number}", zone), (f"subnet_z{number}", subnet_id), (f"cidr_z{number}", cidr),
                            (f"gw_z{number}", str(hosts[0])), (f"reserved_z{number}", f"{hosts[0]} - {hosts[2]}")):
            flags += ["-v", f"{name}={value}"]
    return flags


def on_ec2_harness(workdir: Path, runs: int) -> list[DeployRun]:
    wrapper, record = write_wrapper(workdir, LIBCLOUD_CPI)
    # the harness outlives the director: its teardown terminates what is left through EC2
    with ec2_with_vms(workdir / "ec2", ensure_stemcell()) as ec2:
        director = TimedEc2Director(workdir / "bench-cpi-ec2-director", wrapper=wrapper)
        try:
            director.start_with(ec2.cpi_config())
            director.cli("upload-stemcell", str(write_light_stemcell(workdir / "light-stemcell.tgz", ec2.ami)))
            director.cli("update-cloud-config", str(AWS_CLOUD_CONFIG), *aws_cloud_config_vars(ec2))
            return deploy_runs(director, record, workdir, runs, "EC2 harness")
        finally:
            director.stop()


def mounts_under(directory: Path) -> list[str]:
    """Host mount points inside ``directory`` (never delete through a live mount)."""
    prefix = str(directory.resolve()) + "/"
    return [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1].startswith(prefix)]


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        left = mounts_under(path)
        if left:  # the CPI cleanup failed: say so rather than delete into a mounted VM
            raise RuntimeError(f"{path} still has mounts, not removed: {left}")
        shutil.rmtree(path, ignore_errors=True)


def cleanup_survives_a_second_interrupt() -> None:
    """The first Ctrl-C (or SIGTERM) unwinds into the cleanups; from then on both are
    ignored, by this process and by the cleanup processes it starts (they inherit it)."""
    def interrupted(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)


def measure(runs: int) -> dict[str, list[DeployRun]]:
    if os.geteuid() != 0:
        raise SystemExit("the 20-instance deploy section needs root (namespace VMs); "
                         "run as root or pass --deploy-runs 0")
    figures = {}
    with workdir("bosh-py-bench-cpi-local-") as path:
        figures["local"] = on_local_cpi(path, runs)
    with workdir("bosh-py-bench-cpi-ec2-") as path:
        figures["ec2"] = on_ec2_harness(path, runs)
    return figures


def median(runs: list[DeployRun], value: Any) -> float:
    return statistics.median(value(run) for run in runs)


ROWS: tuple[tuple[str, str, Any], ...] = (  # label, format, value of one run
    ("fresh deploy, wall (s)", "{:.1f}", lambda r: r.deploy_seconds),
    ("  with a CPI call running (s)", "{:.1f}", lambda r: busy_seconds(r.calls)),
    ("  with no CPI call running (s)", "{:.1f}", lambda r: r.deploy_seconds - busy_seconds(r.calls)),
    ("CPI calls during the deploy", "{:.0f}", lambda r: len(r.calls)),
    ("time inside CPI calls, summed (s)", "{:.1f}", lambda r: sum(c.seconds for c in r.calls)),
    ("create_vm, median per call (s)", "{:.2f}",
     lambda r: statistics.median(c.seconds for c in r.calls if c.method == "create_vm")),
    ("delete-deployment, wall (s)", "{:.1f}", lambda r: r.delete_seconds),
)


def deploy_table(figures: dict[str, list[DeployRun]]) -> Table:
    runs = len(figures["local"])
    table = Table(title=f"{INSTANCES}-instance deploy (testrel web, max_in_flight 100%): "
                        f"local CPI vs EC2 harness, median of {runs} run{'s' if runs > 1 else ''}, 2-core machine")
    for column in ("measure", "local CPI", "EC2 harness", "EC2 / local"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for label, shape, value in ROWS:
        local, ec2 = median(figures["local"], value), median(figures["ec2"], value)
        table.add_row(label, shape.format(local), shape.format(ec2), f"{ec2 / local:.1f}x" if local else "-",
                      style="bold" if label.startswith("fresh") else None)
    per_run = {side: ", ".join(f"{run.deploy_seconds:.1f}" for run in figures[side]) for side in figures}
    table.caption = (f"deploy wall per run (s): local {per_run['local']}; EC2 {per_run['ec2']}. EC2 harness: "
                     "director → bosh-py-cpi-libcloud → moto → namespace VMs booted through the local CPI. "
                     "CPI times from a bash wrapper around each CPI executable (the task debug log has none).")
    return table
