"""Cloud Foundry's smoke_tests errand end to end on real VMs: deployments/cf.yml deployed as
an operator does (its smoke_tests group gets no VM), `bosh-py run-errand -d cf smoke_tests`
passes (an app pushed, reached through both routers by its route, deleted), and fails with
exit code 1 naming the step when the routers are stopped."""

from __future__ import annotations

import subprocess

import pytest

from cf_platform.client.cc_client import CcClient
from tests.e2e.manifests import write
from tests.harness import REPO

pytestmark = pytest.mark.slow

FAST_ROUTE_CHECK = [
    {"type": "replace", "path": "/instance_groups/name=smoke_tests/jobs/name=smoke_tests/properties/smoke_tests/"
                                "route_timeout?", "value": 15},
]


@pytest.fixture(scope="module")
def cf(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    for script in ("prepare-release-blobs", "prepare-cf-blobs", "prepare-cf-router-blobs"):
        subprocess.run([str(REPO / "scripts" / script)], check=True, capture_output=True)
    for release in ("nats", "router", "dea", "cloud_controller", "health_manager", "smoke_tests"):
        director.cli("upload-release", str(REPO / "releases" / release))
    ops = write(tmp, FAST_ROUTE_CHECK, "fast-route-check.yml")
    director.cli("deploy", "-n", str(REPO / "deployments/cf.yml"), "-o", str(REPO / "tests/e2e/cf-test-ops.yml"),
                 "-o", ops)
    rows = director.json("instances", "-d", "cf")
    cc_ip = next(r["ips"][0] for r in rows if r["group"] == "cloud_controller")
    password = director.cli("get-variable", "-d", "cf", "cf_admin_password").stdout.strip()
    with CcClient(f"http://{cc_ip}:9022") as anonymous:
        token = anonymous.token("admin", password)["access_token"]
    yield {"rows": rows, "cc": f"http://{cc_ip}:9022", "token": token, "password": password}
    director.cli("delete-deployment", "-d", "cf", "-n")


def app_names(cf) -> list[str]:
    with CcClient(cf["cc"], cf["token"]) as cc:
        return [app["entity"]["name"] for app in cc.apps()]


def test_the_errand_group_has_no_vm_and_is_listed(director, cf):
    assert "smoke_tests" not in {r["group"] for r in cf["rows"]}
    assert {"name": "smoke_tests"} in director.json("errands", "-d", "cf")


def test_smoke_tests_pass_on_the_deployed_cf(director, cf):
    result = director.cli("run-errand", "-d", "cf", "smoke_tests")
    routers = sorted(r["ips"][0] for r in cf["rows"] if r["group"] == "router")
    assert len(routers) == 2
    for ip in routers:
        assert f"through the router at {ip}:80" in result.stdout
    assert "the app answered through 2 router(s)" in result.stdout
    assert "smoke_tests PASSED" in result.stdout and "Exit Code  0" in result.stdout
    assert cf["password"] not in result.stdout + result.stderr
    assert not [n for n in app_names(cf) if n.startswith("smoke-test-")], "the app was deleted"
    assert "smoke_tests" not in {r["group"] for r in director.json("instances", "-d", "cf")}, "its VM too"


def test_smoke_tests_fail_when_the_routers_are_stopped(director, cf):
    director.cli("stop", "-d", "cf", "-n", "router")
    try:
        result = director.cli("run-errand", "-d", "cf", "smoke_tests", check=False)
        assert result.returncode == 1
        assert "Errand 'smoke_tests' completed with error" in result.stderr and "exit code 1" in result.stderr
        assert "smoke_tests FAILED at step 'reach the app through the router at" in result.stdout
        assert "cannot connect to the router" in result.stdout
        assert "--- delete app smoke-test-" in result.stdout
        assert not [n for n in app_names(cf) if n.startswith("smoke-test-")], "deleted after the failure too"
        assert "smoke_tests" not in {r["group"] for r in director.json("instances", "-d", "cf")}
    finally:
        director.cli("start", "-d", "cf", "-n", "router")
