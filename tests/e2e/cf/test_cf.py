"""Cloud Foundry on bosh-py, end to end on real VMs: deploy cf, push examples/hello, reach
it through HAProxy (the front door, in front of both routers), scale to 3 and see 3 instances
answer, kill one and see it replaced, read its lines from every source with `cf-py logs`,
delete it and see the route gone; HAProxy's statistics
show both routers up, behind the generated password. Then Cloud Foundry's smoke_tests errand
on the same cf: its group has no VM; `bosh-py run-errand -d cf smoke_tests` passes (an app
pushed, reached through both routers by its route, deleted), and fails with exit code 1
naming the step when the routers are stopped. An operator's tool (NATS user
component_registry) finds every component on the bus with its status address."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import nats
import pytest

from tests.e2e.cf_support import DOMAIN, through_haproxy, through_router
from tests.harness import REPO, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def director(cf_director):
    return cf_director


def cc(cf):
    return cf.cc()


def answering_instances(cf, requests: int = 12) -> set[str]:
    seen = set()
    for _ in range(requests):
        status, body, _ = through_haproxy(cf, f"hello.{DOMAIN}")
        if status == 200:
            seen.add(body.split("(")[1].split(")")[0])
    return seen


def test_push_scale_heal_delete(director, cf):
    pushed = cf.cf_py("push", "hello", "-p", str(REPO / "examples/hello"), "-m", "64M")
    assert "Detected python" in pushed.stdout and "1 of 1 instances running" in pushed.stdout
    status, body, _ = wait_until(lambda: (r := through_haproxy(cf, f"hello.{DOMAIN}"))[0] == 200 and r,
                                 30, interval=1, message="hello through haproxy")
    assert body.startswith("Hello from hello instance 0")
    for router in cf.ips["router"]:  # haproxy spreads the traffic: each router has the route
        status, body, _ = through_router(router, f"hello.{DOMAIN}")
        assert status == 200 and body.startswith("Hello from hello instance 0")

    status, _, headers = through_haproxy(cf, f"nope.{DOMAIN}")
    assert status == 404 and headers.get("X-Cf-RouterError") == "unknown_route"

    cf.cf_py("scale", "hello", "-i", "3")
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

    # The app's lines from every source, through the log server's VM (docs/logs.md): the
    # CC's, staging's, the instances' stdout and the routers' access lines
    wanted = ("[API/0] OUT Created app with guid", "[STG/", "[APP/", "[RTR/")

    def logged():
        text = cf.cf_py("logs", "hello", "--recent").stdout
        return text if all(line in text for line in wanted) else None

    wait_until(logged, 30, interval=1, message=f"{wanted} in cf-py logs --recent")

    cf.cf_py("delete", "hello", "-f")
    status, _, headers = wait_until(
        lambda: (r := through_haproxy(cf, f"hello.{DOMAIN}"))[0] == 404 and r,
        30, interval=1, message="route gone")
    assert headers.get("X-Cf-RouterError") == "unknown_route"


def no_trace_of(cf, name: str) -> None:
    """No route left on any router, and nothing running for the app."""
    for address in (*cf.ips["router"], *cf.ips["haproxy"]):
        status, _, headers = through_router(address, f"{name}.{DOMAIN}")
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
    result = cf.cf_py("push", app, "-p", str(REPO / "tests/fixtures/apps" / app), "-m", "64M", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expect in result.stdout + result.stderr
    no_trace_of(cf, app)
    cf.cf_py("delete", app, "-f")


def test_bad_requests_get_clear_errors(cf, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cf.cf_py("push", "empty", "-p", str(empty), check=False)
    assert result.returncode == 1 and "empty" in (result.stdout + result.stderr).lower()
    cf.cf_py("delete", "empty", "-f", check=False)

    scale = cf.cf_py("scale", "hello-missing", "-i", "-1", check=False)
    assert scale.returncode != 0

    api = json.loads(Path(cf.config).read_text())["api"]
    assert httpx.get(f"{api}/v2/apps", headers={"Authorization": "bearer forged.token.here"}).status_code == 401
    with cc(cf) as client:
        domain = client.shared_domain()
        first = client.create_app({"name": "taken", "memory": 64, "instances": 1})
        try:
            response = httpx.post(f"{api}/v2/apps", json={"name": "taken"},
                                  headers={"Authorization": f"bearer {json.loads(Path(cf.config).read_text())['token']}"})
            assert response.status_code == 400 and response.json()["error_code"] == "CF-AppNameTaken"
            negative = httpx.put(f"{api}/v2/apps/{first['metadata']['guid']}", json={"instances": -1},
                                 headers={"Authorization": f"bearer {json.loads(Path(cf.config).read_text())['token']}"})
            assert negative.status_code == 400
        finally:
            client.delete_app(first["metadata"]["guid"])
    assert domain


def test_haproxy_checks_both_routers_and_guards_its_statistics(director, cf):
    """The statistics page on the haproxy VM (port 9000, cf.yml): refused without the
    generated password; with it, both routers UP in the http-routers backend; requests
    through haproxy reach the routers."""
    url = f"http://{cf.ips['haproxy'][0]}:9000/haproxy_stats;csv"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, auth=("stats", "wrong"), timeout=10).status_code == 401
    password = director.cli("get-variable", "-d", "cf", "haproxy_stats_password").stdout.strip()

    def routers_up() -> dict | None:
        response = httpx.get(url, auth=("stats", password), timeout=10)
        assert response.status_code == 200, response.text
        rows = [line.split(",") for line in response.text.lstrip("# ").splitlines()]
        header = rows[0]
        states = {row[header.index("svname")]: row[header.index("status")] for row in rows[1:]
                  if row and row[0] == "http-routers" and row[header.index("svname")].startswith("router_")}
        return states if set(states.values()) == {"UP"} else None

    states = wait_until(routers_up, 30, interval=1, message="both routers UP in haproxy")
    assert sorted(states) == ["router_0", "router_1"]
    for _ in range(4):  # whichever router haproxy picks answers: the routers' own 404
        status, _, headers = through_haproxy(cf, f"nowhere.{DOMAIN}")
        assert status == 404 and headers.get("X-Cf-RouterError") == "unknown_route", (status, headers)
    rows = director.json("instances", "-d", "cf", "--ps")
    haproxy = [row for row in rows if row["group"] == "haproxy"]
    assert len(haproxy) == 1 and haproxy[0]["process_state"] == "running", haproxy


# -- the smoke_tests errand (last: the failing case stops and restarts the routers) -------

def smoke_app_names(cf) -> list[str]:
    with cc(cf) as client:
        return [app["entity"]["name"] for app in client.apps() if app["entity"]["name"].startswith("smoke-test-")]


def test_the_smoke_tests_errand_has_no_vm_and_is_listed(director, cf):
    assert "smoke_tests" not in {r["group"] for r in director.json("instances", "-d", "cf")}
    assert {"name": "smoke_tests"} in director.json("errands", "-d", "cf")


def test_smoke_tests_pass_on_the_deployed_cf(director, cf):
    result = director.cli("run-errand", "-d", "cf", "smoke_tests")
    routers = sorted(cf.ips["router"])
    assert len(routers) == 2
    for ip in routers:
        assert f"through the router at {ip}:80" in result.stdout
    assert "the app answered through 2 router(s)" in result.stdout
    assert "smoke_tests PASSED" in result.stdout and "Exit Code  0" in result.stdout
    assert cf.password not in result.stdout + result.stderr
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


COMPONENTS = {"Router", "DEA", "CloudController", "HealthManager", "UAA", "LogServer"}


def test_every_component_answers_discover_on_the_bus(director, cf):
    """CF v1's vcap.component.discover, asked as the component_registry user of cf.yml:
    each kind of component answers with its type and its status address and credentials."""
    password = director.cli("get-variable", "-d", "cf", "nats_component_registry_password").stdout.strip()
    nats_ip = cf.ips["nats"][0]

    async def discover() -> list[dict]:
        bus = await nats.connect(f"nats://{nats_ip}:4222", user="component_registry", password=password,
                                 inbox_prefix=b"_INBOX.component_registry", max_reconnect_attempts=0)
        try:
            inbox = bus.new_inbox()
            answers = await bus.subscribe(inbox)
            await bus.publish("vcap.component.discover", b"", reply=inbox)
            found: list[dict] = []
            try:
                while not {a["type"] for a in found} >= COMPONENTS:
                    found.append(json.loads((await answers.next_msg(timeout=5)).data))
            except nats.errors.TimeoutError:
                pass
            return found
        finally:
            await bus.close()

    found = asyncio.run(discover())
    assert {a["type"] for a in found} >= COMPONENTS, found
    for answer in found:
        assert answer["host"] and len(answer["credentials"]) == 2 and all(answer["credentials"])
