"""No request lost: an app with 3 instances across the DEAs, a load generator sending a
request every 50 ms through HAProxy, while the platform under it is rolled, recreated, has
VMs killed, or loses its NATS for 30 s. Each test asserts zero failed requests and prints
how many it sent. Runs on the Cloud Foundry deployment test_cf.py uses (conftest `cf`)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.e2e.cf_support import DOMAIN, DeployedCf
from tests.e2e.heal_support import kill_keeper
from tests.harness import REPO, wait_until
from tests.load_support import LoadGenerator, LoadResult

pytestmark = pytest.mark.slow

APP = "steady"
HOST = f"{APP}.{DOMAIN}"


@pytest.fixture
def director(cf_director):
    return cf_director


def ops_file(tmp: Path, name: str, ops: list[dict]) -> Path:
    path = tmp / f"{name}.yml"
    path.write_text(yaml.safe_dump(ops))
    return path


def instance_hosts(cf: DeployedCf) -> set[str]:
    return {i.get("host") for i in running_instances(cf)}


@pytest.fixture(scope="module")
def steady(cf):
    """The app under load: 3 instances, on both DEAs."""
    cf.cf_py("push", APP, "-p", str(REPO / "examples/hello"), "-m", "64M", "-i", "3")

    def spread() -> bool:
        return len(instance_hosts(cf)) == 2 and len(answering(cf)) == 3

    wait_until(spread, 120, interval=1, message="3 instances of the app on both DEAs, answering")
    yield cf
    cf.cf_py("delete", APP, "-f", check=False)


def answering(cf: DeployedCf, requests: int = 15) -> set[str]:
    with LoadGenerator(f"http://{cf.ips['haproxy'][0]}/", HOST, interval=0.02) as load:
        load.wait_for(requests)
    return {body.split("(")[1].split(")")[0] for body in load.result.bodies if "(" in body}


def under_load(cf: DeployedCf) -> LoadGenerator:
    return LoadGenerator(f"http://{cf.ips['haproxy'][0]}/", HOST, interval=0.05)


def assert_no_loss(what: str, result: LoadResult) -> None:
    print(f"\n{what}: {result.sent} requests through HAProxy, {result.failed} failed")
    assert result.sent > 50, f"{what}: the load generator hardly ran ({result.sent} requests)"
    assert result.failed == 0, f"{what}: {result.summary()}"


def no_loss_while(cf: DeployedCf, what: str, action) -> None:  # type: ignore[no-untyped-def]
    """Run ``action`` with the load running (before and after it too): no request may fail."""
    with under_load(cf) as load:
        load.wait_for(20)
        action()
        load.wait_for(20)
    assert_no_loss(what, load.result)


def group_rows(cf: DeployedCf, group: str) -> list[dict]:
    return [row for row in cf.director.json("instances", "-d", "cf") if row["group"] == group]


def test_a_dea_property_rolled_one_at_a_time_loses_no_request(steady, tmp_path):
    change = ops_file(tmp_path, "dea-roll", [
        {"type": "replace", "path": "/instance_groups/name=dea/update?/max_in_flight", "value": 1},
        {"type": "replace", "path": "/instance_groups/name=dea/jobs/name=dea/properties/dea/advertise_interval?",
         "value": 4},
    ])
    no_loss_while(steady, "DEA property rolled, max_in_flight 1", lambda: steady.deploy(change))
    wait_until(lambda: len(answering(steady)) == 3, 60, interval=1, message="3 instances answering after the roll")


def test_a_router_property_rolled_loses_no_request(steady, tmp_path):
    change = ops_file(tmp_path, "router-roll", [
        {"type": "replace", "path": "/instance_groups/name=router/jobs/name=router/properties/router/drain_wait?",
         "value": 3},
    ])
    no_loss_while(steady, "router property rolled", lambda: steady.deploy(change))


def test_recreating_the_routers_loses_no_request(steady):
    no_loss_while(steady, "routers recreated", lambda: steady.director.cli("recreate", "-d", "cf", "-n", "router"))


def spread_over_both_deas(cf: DeployedCf) -> None:
    """Rollouts by evacuation leave every instance on one DEA (each DEA's instances move to
    the other in turn), and Cloud Foundry does not rebalance: crash an instance on the
    crowded DEA until both hold some (the health manager restarts it where the DEAs'
    placement puts it: the emptier one)."""
    for _ in range(4):
        running = running_instances(cf)
        hosts = Counter(i["host"] for i in running)
        if len(running) == 3 and len(hosts) == 2:
            return
        victim = next(i for i in running if i["host"] == hosts.most_common(1)[0][0])
        dea = next(row for row in group_rows(cf, "dea") if row["ips"][0] == victim["host"])
        cf.director.cli("ssh", "-d", "cf", f"dea/{dea['id']}", "-c",
                        f"kill -9 $(cat /sys/fs/cgroup/pids/dea/{victim['instance']}/cgroup.procs)")
        wait_until(lambda: victim["instance"] not in {i["instance"] for i in running_instances(cf)}
                   and len(running_instances(cf)) == 3, 90, interval=1, message="the crashed instance replaced")
    raise AssertionError(f"the app's instances stay on one DEA: {hosts}")


def running_instances(cf: DeployedCf) -> list[dict]:
    with cf.cc() as client:
        guid = client.app(APP)["metadata"]["guid"]
        return [i for i in client.instances(guid).values() if i.get("state") == "RUNNING"]


@pytest.mark.parametrize("group", ["dea", "router"])
def test_a_killed_vm_loses_no_request(steady, group):
    spread_over_both_deas(steady)
    victim = group_rows(steady, group)[0]
    with under_load(steady) as load:
        load.wait_for(20)
        kill_keeper(steady.director, victim["vm_cid"])
        killed = time.monotonic()

        def replaced() -> bool:
            row = next(r for r in group_rows(steady, group) if r["id"] == victim["id"])
            return row["vm_cid"] not in (None, victim["vm_cid"]) and row["process_state"] == "running"

        wait_until(replaced, 120, interval=1, message=f"the killed {group} VM resurrected")
        healed = time.monotonic() - killed
        load.wait_for(20)
    assert_no_loss(f"{group} VM killed (resurrected after {healed:.1f}s)", load.result)
    wait_until(lambda: len(answering(steady)) == 3, 90, interval=1, message="3 instances answering again")


def test_the_platforms_nats_down_for_30_seconds_loses_no_request_and_resurrects_nothing(steady):
    before = {row["id"]: row["vm_cid"] for row in steady.director.json("instances", "-d", "cf")}

    def nats_down_30s() -> None:
        steady.director.cli("stop", "-d", "cf", "-n", "nats")
        try:
            time.sleep(30)
        finally:
            steady.director.cli("start", "-d", "cf", "-n", "nats")

    no_loss_while(steady, "the platform's NATS down for 30 s", nats_down_30s)
    after = {row["id"]: row["vm_cid"] for row in steady.director.json("instances", "-d", "cf")}
    assert after == before, "nothing was recreated"
    # everything reconnected: a new app is staged (cc -> DEA over NATS) and routed (DEA -> router)
    steady.cf_py("scale", APP, "-i", "4")
    wait_until(lambda: len(answering(steady, 25)) == 4, 90, interval=1, message="a 4th instance routed after NATS came back")
    steady.cf_py("scale", APP, "-i", "3")
