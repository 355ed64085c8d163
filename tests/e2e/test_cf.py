"""Cloud Foundry on bosh-py, end to end on real VMs: deploy cf, push examples/hello, reach
it through the router, scale to 3 and see 3 instances answer, kill one and see it replaced,
delete it and see the route gone. Then Cloud Foundry's smoke_tests errand on the same cf: its
group has no VM; `bosh-py run-errand -d cf smoke_tests` passes (an app pushed, reached
through both routers by its route, deleted), and fails with exit code 1 naming the step
when the routers are stopped."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import httpx
import pytest
import yaml

from cf_platform.client.cc_client import CcClient
from tests.harness import BIN, REPO, wait_until

pytestmark = pytest.mark.slow
DOMAIN = "bosh-py.local"


@pytest.fixture(scope="module")
def cf(director, tmp_path_factory):
    for script in ("prepare-release-blobs", "prepare-cf-blobs", "prepare-cf-router-blobs"):
        subprocess.run([str(REPO / "scripts" / script)], check=True, capture_output=True)
    for release in yaml.safe_load((REPO / "deployments/cf.yml").read_text())["releases"]:  # nats, router, dea …
        director.cli("upload-release", str(REPO / "releases" / release["name"]))
    director.cli("deploy", "-n", str(REPO / "deployments/cf.yml"), "-o", str(REPO / "tests/e2e/cf-test-ops.yml"))
    rows = director.json("instances", "-d", "cf")
    ips = {}
    for row in rows:
        ips.setdefault(row["group"], []).append(row["ips"][0])
    env = {**director.env, "CF_PY_CONFIG": str(tmp_path_factory.mktemp("cf") / "cf.json")}
    password = director.cli("get-variable", "-d", "cf", "cf_admin_password").stdout.strip()

    def cf_py(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "cf-py"), *args], env=env, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"cf-py {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    cf_py("api", f"http://{ips['cloud_controller'][0]}:9022")
    cf_py("login", "-u", "admin", "-p", password)
    yield {"ips": ips, "cf_py": cf_py, "config": env["CF_PY_CONFIG"], "password": password}
    director.cli("delete-deployment", "-d", "cf", "-n")


def through_router(router_ip: str, host: str) -> tuple[int, str, dict]:
    request = urllib.request.Request(f"http://{router_ip}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def cc(cf) -> CcClient:
    config = json.loads(open(cf["config"]).read())
    return CcClient(config["api"], config["token"])


def answering_instances(cf, requests: int = 12) -> set[str]:
    seen = set()
    for number in range(requests):
        router = cf["ips"]["router"][number % len(cf["ips"]["router"])]
        status, body, _ = through_router(router, f"hello.{DOMAIN}")
        if status == 200:
            seen.add(body.split("(")[1].split(")")[0])
    return seen


def test_push_scale_heal_delete(director, cf):
    pushed = cf["cf_py"]("push", "hello", "-p", str(REPO / "examples/hello"), "-m", "64M")
    assert "Detected python" in pushed.stdout and "1 of 1 instances running" in pushed.stdout
    status, body, _ = through_router(cf["ips"]["router"][0], f"hello.{DOMAIN}")
    assert status == 200 and body.startswith("Hello from hello instance 0")

    status, _, headers = through_router(cf["ips"]["router"][1], f"nope.{DOMAIN}")
    assert status == 404 and headers.get("X-Cf-RouterError") == "unknown_route"

    cf["cf_py"]("scale", "hello", "-i", "3")
    def all_three_answer():
        seen = answering_instances(cf)
        return seen if len(seen) == 3 else None

    wait_until(all_three_answer, 60, interval=1, message="3 instances answering through the routers")

    with cc(cf) as client:
        app = client.app("hello")
        victim = client.instances(app["metadata"]["guid"])["0"]
    dea = next(row for row in director.json("instances", "-d", "cf") if row["ips"][0] == victim["host"])
    # The app listens in its container's own network namespace: find it by its cgroup.
    director.cli("ssh", "-d", "cf", f"dea/{dea['id']}", "-c",
                 f"kill -9 $(cat /sys/fs/cgroup/pids/dea/{victim['instance']}/cgroup.procs)")
    before = answering_instances(cf, 6)
    assert before, "the other instances keep answering while one is down"

    def replaced():
        with cc(cf) as client:
            now = client.instances(app["metadata"]["guid"]).get("0", {})
        return now.get("state") == "RUNNING" and now.get("instance") != victim["instance"]

    wait_until(replaced, 90, interval=1, message="the killed instance replaced")
    wait_until(all_three_answer, 60, interval=1, message="3 instances answering again")

    cf["cf_py"]("delete", "hello", "-f")
    status, _, headers = wait_until(
        lambda: (r := through_router(cf["ips"]["router"][0], f"hello.{DOMAIN}"))[0] == 404 and r,
        30, interval=1, message="route gone")
    assert headers.get("X-Cf-RouterError") == "unknown_route"


def no_trace_of(cf, name: str) -> None:
    """No route left on any router, and nothing running for the app."""
    for router in cf["ips"]["router"]:
        status, _, headers = through_router(router, f"{name}.{DOMAIN}")
        assert status == 404 and headers.get("X-Cf-RouterError") == "unknown_route"
    with cc(cf) as client:
        app = client.find_app(name)
        if app is not None and app["entity"]["state"] == "STARTED":
            running = [i for i in client.instances(app["metadata"]["guid"]).values()
                       if i.get("state") in ("STARTING", "RUNNING")]
            assert running == [], running


@pytest.mark.parametrize("app, expect", [
    ("nothing", "None of the buildpacks detected a compatible application"),
    ("crasher", "missing DATABASE_URL"),
    ("silent", "never opened its port"),
])
def test_bad_pushes_fail_clearly_and_leave_nothing(cf, app, expect):
    result = cf["cf_py"]("push", app, "-p", str(REPO / "tests/fixtures/apps" / app), "-m", "64M", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expect in result.stdout + result.stderr
    no_trace_of(cf, app)
    cf["cf_py"]("delete", app, "-f")


def test_bad_requests_get_clear_errors(cf, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cf["cf_py"]("push", "empty", "-p", str(empty), check=False)
    assert result.returncode == 1 and "empty" in (result.stdout + result.stderr).lower()
    cf["cf_py"]("delete", "empty", "-f", check=False)

    scale = cf["cf_py"]("scale", "hello-missing", "-i", "-1", check=False)
    assert scale.returncode != 0

    api = json.loads(open(cf["config"]).read())["api"]
    assert httpx.get(f"{api}/v2/apps", headers={"Authorization": "bearer forged.token.here"}).status_code == 401
    with cc(cf) as client:
        domain = client.shared_domain()
        first = client.create_app({"name": "taken", "memory": 64, "instances": 1})
        try:
            response = httpx.post(f"{api}/v2/apps", json={"name": "taken"},
                                  headers={"Authorization": f"bearer {json.loads(open(cf['config']).read())['token']}"})
            assert response.status_code == 400 and response.json()["error_code"] == "CF-AppNameTaken"
            negative = httpx.put(f"{api}/v2/apps/{first['metadata']['guid']}", json={"instances": -1},
                                 headers={"Authorization": f"bearer {json.loads(open(cf['config']).read())['token']}"})
            assert negative.status_code == 400
        finally:
            client.delete_app(first["metadata"]["guid"])
    assert domain


# -- the smoke_tests errand (last: the failing case stops and restarts the routers) -------

def smoke_app_names(cf) -> list[str]:
    with cc(cf) as client:
        return [app["entity"]["name"] for app in client.apps() if app["entity"]["name"].startswith("smoke-test-")]


def test_the_smoke_tests_errand_has_no_vm_and_is_listed(director, cf):
    assert "smoke_tests" not in {r["group"] for r in director.json("instances", "-d", "cf")}
    assert {"name": "smoke_tests"} in director.json("errands", "-d", "cf")


def test_smoke_tests_pass_on_the_deployed_cf(director, cf):
    result = director.cli("run-errand", "-d", "cf", "smoke_tests")
    routers = sorted(cf["ips"]["router"])
    assert len(routers) == 2
    for ip in routers:
        assert f"through the router at {ip}:80" in result.stdout
    assert "the app answered through 2 router(s)" in result.stdout
    assert "smoke_tests PASSED" in result.stdout and "Exit Code  0" in result.stdout
    assert cf["password"] not in result.stdout + result.stderr
    assert not smoke_app_names(cf), "the app was deleted"
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
        assert not smoke_app_names(cf), "deleted after the failure too"
        assert "smoke_tests" not in {r["group"] for r in director.json("instances", "-d", "cf")}
    finally:
        director.cli("start", "-d", "cf", "-n", "router")
