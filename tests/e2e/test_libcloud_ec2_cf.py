"""Cloud Foundry on "EC2" through the libcloud CPI, end to end: a real director whose CPI is
bosh-py-cpi-libcloud, talking EC2 to the harness of tests/iaas/ec2_vms (moto's EC2 whose
instances are real namespace VMs), deploys deployments/cf.yml unchanged with
deployments/cloud-config-aws.yml (issue 7: the same manifests, only another cloud-config);
`cf-py push` of examples/hello runs inside the memory limit it was pushed with and answers
through each router's IP with the app's Host header; delete-deployment leaves no instance
in the emulator.

One test, one harness and one director: every step needs the one before it, and a second
harness would double the time."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from cf_platform.client.cc_client import CcClient

from tests.e2e.cf_support import DOMAIN, through_router
from tests.e2e.test_libcloud_ec2 import cloud_config_vars
from tests.harness import BIN, REPO, TEST_SUBNET, wait_until
from tests.iaas.ec2_vms.director import Ec2Director
from tests.iaas.ec2_vms.harness import Ec2Vms, ec2_with_vms
from tests.iaas.ec2_vms.light_stemcell import write_light_stemcell

pytestmark = pytest.mark.slow

APP_MEMORY_MB = 64
GROUPS = {"nats": 1, "cloud_controller": 1, "health_manager": 1, "dea": 2, "router": 2}  # deployments/cf.yml
CfPy = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def ec2(tmp_path_factory: pytest.TempPathFactory, stemcell: Path) -> Iterator[Ec2Vms]:
    with ec2_with_vms(tmp_path_factory.mktemp("ec2-vms-cf"), stemcell) as harness:
        yield harness


@pytest.fixture(scope="module")
def director(tmp_path_factory: pytest.TempPathFactory, ec2: Ec2Vms) -> Iterator[Ec2Director]:
    local = Ec2Director(tmp_path_factory.mktemp("bosh-py-ec2-cf"))
    try:
        local.start_with(ec2.cpi_config())
        yield local
    finally:
        # After a failed step the director deletes what it made, each VM through EC2 (the
        # test itself checks delete-deployment; here a missing deployment is no error).
        if local.env:
            local.cli("delete-deployment", "-d", "cf", "-n", check=False)
        local.stop()


def cf_py_runner(director: Ec2Director, config: Path) -> CfPy:
    """`cf-py` as the operator runs it, with its own config file (API URL and login token)."""
    env = {**director.env, "CF_PY_CONFIG": str(config)}

    def cf_py(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "cf-py"), *args], env=env, capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, f"cf-py {args[0]} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    return cf_py


def container_limits(director: Ec2Director, rows: list[dict], cf_config: Path) -> tuple[int, int]:
    """(memory.limit_in_bytes, process count) of hello's instance 0 container, read on its
    DEA's VM over `bosh-py ssh`: the DEA puts each container in the cgroup v1 groups
    /sys/fs/cgroup/{memory,pids}/dea/<instance id> when the VM lets it make them."""
    config = json.loads(cf_config.read_text())
    with CcClient(config["api"], config["token"]) as client:
        app = client.app("hello")
        instance = client.instances(app["metadata"]["guid"])["0"]
    dea = next(r for r in rows if r["group"] == "dea" and r["ips"][0] == instance["host"])
    group = f"dea/{instance['instance']}"
    out = director.cli("ssh", "-d", "cf", f"dea/{dea['id']}", "-c",
                       f"cat /sys/fs/cgroup/memory/{group}/memory.limit_in_bytes && "
                       f"wc -l < /sys/fs/cgroup/pids/{group}/cgroup.procs", check=False, timeout=60)
    assert out.returncode == 0, f"no cgroups for {group} on dea/{dea['id']}:\n{out.stdout}\n{out.stderr}"
    limit, processes = out.stdout.split()
    return int(limit), int(processes)


def hello_through(router: str) -> tuple[int, str, dict]:
    """The app's answer through one router, once the router has its route (from NATS)."""
    def answered() -> tuple[int, str, dict] | None:
        response = through_router(router, f"hello.{DOMAIN}")
        return response if response[0] == 200 else None

    return wait_until(answered, 30, interval=1, message=f"hello through router {router}")


def test_cf_on_ec2_through_the_libcloud_cpi(director: Ec2Director, ec2: Ec2Vms,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    started = time.monotonic()
    for script in ("prepare-release-blobs", "prepare-cf-blobs", "prepare-cf-router-blobs"):
        subprocess.run([str(REPO / "scripts" / script)], check=True, capture_output=True)
    director.cli("upload-stemcell", str(write_light_stemcell(director.root / "light-stemcell.tgz", ec2.ami)))
    director.cli("update-cloud-config", str(REPO / "deployments/cloud-config-aws.yml"), *cloud_config_vars(ec2))
    for release in yaml.safe_load((REPO / "deployments/cf.yml").read_text())["releases"]:  # nats, router, dea …
        director.cli("upload-release", str(REPO / "releases" / release["name"]))

    deploying = time.monotonic()
    director.cli("deploy", "-n", str(REPO / "deployments/cf.yml"))
    print(f"deploy of deployments/cf.yml through the EC2 harness: {time.monotonic() - deploying:.1f}s")

    rows = director.json("instances", "-d", "cf", "--ps")
    assert {g: sum(r["group"] == g for r in rows) for g in GROUPS} == GROUPS, rows
    assert {r["process_state"] for r in rows} == {"running"}, rows
    assert sorted(r["vm_cid"] for r in rows) == sorted(ec2.live_instances())  # each one an EC2 instance
    assert set(ec2.state()["instances"]) == set(ec2.live_instances())        # each one a real VM
    assert ec2.state()["failures"] == []
    ips: dict[str, list[str]] = {}
    for row in rows:
        ips.setdefault(row["group"], []).append(row["ips"][0])
    subnet = ipaddress.IPv4Network(f"{TEST_SUBNET}.0/24")
    assert all(ipaddress.IPv4Address(ip) in subnet for group in ips.values() for ip in group), ips

    cf_config = tmp_path_factory.mktemp("cf-py") / "cf.json"
    cf_py = cf_py_runner(director, cf_config)
    password = director.cli("get-variable", "-d", "cf", "cf_admin_password").stdout.strip()
    cf_py("api", f"http://{ips['cloud_controller'][0]}:9022")
    cf_py("login", "-u", "admin", "-p", password)
    pushed = cf_py("push", "hello", "-p", str(REPO / "examples/hello"), "-m", f"{APP_MEMORY_MB}M")
    assert "Detected python" in pushed.stdout and "1 of 1 instances running" in pushed.stdout, pushed.stdout
    # The app runs inside the limit it was pushed with: the EC2 instance's DEA could make
    # its container's cgroups (without them the DEA runs apps with no limit, and says so
    # only in its own log).
    limit, processes = container_limits(director, rows, cf_config)
    assert limit == APP_MEMORY_MB * 1024 * 1024 and processes >= 1, (limit, processes)

    # Every router learned the route from the DEA over NATS and reaches the container
    # through the DEA VM's nftables DNAT.
    for router in ips["router"]:
        _, body, _ = hello_through(router)
        assert body.startswith("Hello from hello instance 0"), body
    status, _, headers = through_router(ips["router"][0], f"nope.{DOMAIN}")
    assert status == 404 and headers.get("X-Cf-RouterError") == "unknown_route"

    director.cli("delete-deployment", "-d", "cf", "-n")
    assert ec2.live_instances() == []
    assert ec2.state()["instances"] == {}
    assert ec2.state()["failures"] == []
    print(f"cf on the EC2 harness, blobs to delete-deployment: {time.monotonic() - started:.1f}s")
