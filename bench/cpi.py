#!/usr/bin/env python3
"""CPI benchmark: what one CPI call costs through the ``bosh-py-cpi-libcloud`` executable
(as the director makes it: a new process per call, which imports libcloud, reads the config
and builds a driver, for OpenStack a Keystone login too) against the same provider code
called in-process with one long-lived driver (as a program using libcloud directly would).

For each provider on its API emulator (EC2: moto behind tests/cpi_libcloud/moto_adapter;
OpenStack: tests/iaas/openstack_fake), on 127.0.0.1, started and stopped here, the BOSH
lifecycle info, create_vm, has_vm, set_vm_metadata, create_disk, attach_disk, detach_disk,
delete_disk, delete_vm runs ``--runs`` times each way (after one warm-up run); the table
gives the median wall time per method, the ratio, and the difference: the per-call process
cost. The emulators answer in milliseconds where a real cloud takes seconds, so the ratio
here is the worst case; the difference is what each call adds on any cloud.

Then (as root) the same 20-instance deploy through the EC2 harness (director →
bosh-py-cpi-libcloud → moto → real namespace VMs, tests/iaas/ec2_vms) and on the local CPI,
``--deploy-runs`` times each: wall times, their ratio and the time inside CPI calls
(bench/cpi_deploy.py). Everything made is removed, after a failure or Ctrl-C too.

Run: `BOSH_PY_TEST_NET=N .venv/bin/python bench/cpi.py [--runs 5] [--providers aws,openstack]
[--deploy-runs 3]` (`--providers ""` or `--deploy-runs 0` skips a part).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.cpi_deploy import cleanup_survives_a_second_interrupt, deploy_table  # noqa: E402
from bench.cpi_deploy import measure as measure_deploys  # noqa: E402
from cpi.libcloud.config import load_config  # noqa: E402
from cpi.libcloud.context import Context  # noqa: E402
from cpi.libcloud.methods import method_module  # noqa: E402
from cpi.protocol import CallLog  # noqa: E402
from tests.cpi_libcloud.support import make_world, start_moto, write_config  # noqa: E402
from tests.iaas.openstack_fake import OpenStackFake  # noqa: E402

CPI = Path(sys.executable).parent / "bosh-py-cpi-libcloud"
METHODS = ("info", "create_vm", "has_vm", "set_vm_metadata", "create_disk", "attach_disk",
           "detach_disk", "delete_disk", "delete_vm")
Call = Callable[..., Any]  # (method, *arguments) -> result


@dataclass(frozen=True)
class Cloud:
    """A provider's emulator and what create_vm needs there."""

    name: str
    config_path: Path
    stemcell_cid: str
    vm_properties: dict[str, Any]
    networks: dict[str, Any]


@contextmanager
def aws_cloud(tmp: Path) -> Iterator[Cloud]:
    """moto's EC2 behind its adapter, in a subprocess stopped on the way out."""
    moto = start_moto(tmp / "moto.log")
    try:
        world = make_world(moto)
        yield Cloud("aws (moto EC2)", write_config(tmp / "aws.json", moto, world), world.ami,
                    {"instance_type": "t3.micro", "availability_zone": world.zone,
                     "subnet_id": world.subnet_id},
                    {"default": {"type": "dynamic", "cloud_properties": {}, "default": ["dns", "gateway"]}})
    finally:
        moto.stop()


@contextmanager
def openstack_cloud(tmp: Path) -> Iterator[Cloud]:
    """The OpenStack emulator (Keystone v3, Nova, Glance, Neutron, Cinder) in a thread here."""
    fake = OpenStackFake().start()
    try:
        cloud = fake.cloud
        credentials = cloud.credentials
        config = tmp / "openstack.json"
        config.write_text(json.dumps({"provider": "openstack", "openstack": {
            "auth_url": fake.auth_url, "username": credentials.username,
            "password": credentials.password, "project": credentials.project,
            "domain": credentials.domain, "region": credentials.region,
            "default_key_name": "bosh", "default_security_groups": ["default"]}}))
        config.chmod(0o600)
        net_id = next(i for i, n in cloud.networks.items() if n["name"] == "private")
        yield Cloud("openstack (emulator)", config, next(iter(cloud.images)),
                    {"flavor": "m1.small", "availability_zone": "nova"},
                    {"default": {"type": "dynamic", "cloud_properties": {"net_id": net_id},
                                 "default": ["dns", "gateway"]}})
    finally:
        fake.stop()


CLOUDS: dict[str, Callable[[Path], Any]] = {"aws": aws_cloud, "openstack": openstack_cloud}


def through_executable(cloud: Cloud) -> Call:
    """One process per call, as the director calls a CPI."""
    def call(method: str, *arguments: Any) -> Any:
        request = {"method": method, "arguments": list(arguments), "api_version": 2,
                   "context": {"director_uuid": "bench"}}
        done = subprocess.run([str(CPI), str(cloud.config_path)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=120, check=True)
        response = json.loads(done.stdout)
        if response["error"] is not None:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]
    return call


def in_process(cloud: Cloud) -> Call:
    """The same method modules and provider, one driver for every call, no process."""
    ctx = Context(load_config(str(cloud.config_path)), CallLog())

    def call(method: str, *arguments: Any) -> Any:
        module = method_module(method)
        assert module is not None, method
        return module.run(ctx, *arguments)
    return call


def lifecycle(cloud: Cloud, call: Call, agent_id: str) -> dict[str, float]:
    """BOSH's CPI lifecycle once; the wall time of each call in seconds."""
    times: dict[str, float] = {}

    def timed(method: str, *arguments: Any) -> Any:
        started = time.perf_counter()
        result = call(method, *arguments)
        times[method] = time.perf_counter() - started
        return result

    timed("info")
    vm_cid, _ = timed("create_vm", agent_id, cloud.stemcell_cid, cloud.vm_properties, cloud.networks, [], {})
    assert timed("has_vm", vm_cid) is True
    timed("set_vm_metadata", vm_cid, {"deployment": "bench", "job": "web", "index": "0"})
    disk_cid = timed("create_disk", 1024, {}, vm_cid)
    timed("attach_disk", vm_cid, disk_cid)
    timed("detach_disk", vm_cid, disk_cid)
    timed("delete_disk", disk_cid)
    timed("delete_vm", vm_cid)
    return times


def measure(cloud: Cloud, runs: int) -> dict[str, dict[str, list[float]]]:
    """{way: {method: [seconds per run]}} after one unmeasured warm-up run each way."""
    figures: dict[str, dict[str, list[float]]] = {}
    for way, make in (("executable", through_executable), ("in-process", in_process)):
        call = make(cloud)
        lifecycle(cloud, call, f"warm-{way}")
        figures[way] = {method: [] for method in METHODS}
        for number in range(runs):
            for method, seconds in lifecycle(cloud, call, f"{way}-{number}").items():
                figures[way][method].append(seconds)
    return figures


def provider_table(cloud: Cloud, figures: dict[str, dict[str, list[float]]], runs: int) -> Table:
    table = Table(title=f"libcloud CPI on {cloud.name}: median of {runs} runs (ms), 2-core machine")
    for column in ("method", "executable", "in-process", "ratio", "process cost"):
        table.add_column(column, justify="left" if column == "method" else "right")
    totals = [0.0, 0.0]
    for method in METHODS:
        through = statistics.median(figures["executable"][method]) * 1000
        direct = statistics.median(figures["in-process"][method]) * 1000
        totals[0] += through
        totals[1] += direct
        table.add_row(method, f"{through:.0f}", f"{direct:.2f}", ratio(through, direct),
                      f"{through - direct:.0f}")
    table.add_row("whole lifecycle", f"{totals[0]:.0f}", f"{totals[1]:.1f}", ratio(*totals),
                  f"{totals[0] - totals[1]:.0f}", style="bold")
    table.caption = f"a bare `python -c pass` takes {interpreter_ms():.0f} ms here"
    return table


def ratio(through: float, direct: float) -> str:
    return f"{through / direct:.0f}x" if direct >= 0.05 else "-"  # info does no IaaS call


def interpreter_ms(samples: int = 5) -> float:
    """What starting the interpreter alone costs, to tell it apart from imports and login."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def twenty_instance_deploy_section(runs: int) -> Table | None:
    """The issue's second table: a 20-instance deploy through the EC2 harness
    (tests/iaas/ec2_vms) against the same deploy on the local CPI (bench/cpi_deploy.py);
    None when ``runs`` is 0 (skipped)."""
    return deploy_table(measure_deploys(runs)) if runs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured lifecycles per way (default 5)")
    parser.add_argument("--providers", default="aws,openstack",
                        help=f"comma-separated, from: {', '.join(CLOUDS)} (empty: none)")
    parser.add_argument("--deploy-runs", type=int, default=3,
                        help="20-instance deploys per CPI, local and EC2 harness (default 3; 0 skips; root)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.providers.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in CLOUDS]
    if unknown:
        parser.error(f"--providers: unknown provider(s) {', '.join(unknown)}; known: {', '.join(CLOUDS)}")
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if args.deploy_runs < 0:
        parser.error(f"--deploy-runs must be 0 (skip) or more, got {args.deploy_runs}")
    if args.deploy_runs and os.geteuid() != 0:
        parser.error("--deploy-runs needs root (the deploys boot namespace VMs); pass --deploy-runs 0 to skip")
    cleanup_survives_a_second_interrupt()
    console = Console()
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix="bosh-py-bench-cpi-") as tmp, CLOUDS[name](Path(tmp)) as cloud:
            figures = measure(cloud, args.runs)
            console.print(provider_table(cloud, figures, args.runs))
    deploy = twenty_instance_deploy_section(args.deploy_runs)
    if deploy is not None:
        console.print(deploy)


if __name__ == "__main__":
    main()
