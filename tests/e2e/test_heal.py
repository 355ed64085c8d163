"""Healing on the defaults: a VM killed (its keeper, kill -9) answers again within
seconds, a VM deleted behind the director's back is seen at once through the CPI's has_vm,
resurrection can be switched off per instance group, and each decision reaches a person as
a webhook alert. The director runs the default health-monitor settings (only a webhook
added), so the figures printed are what an operator gets."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.e2e.heal_support import AlertReceiver, answers, director_log, kill_keeper
from tests.e2e.manifests import web_manifest, write
from tests.e2e.test_resurrection import kill_vm_behind_the_directors_back
from tests.harness import LocalDirector, director_with_stemcell, wait_until

pytestmark = pytest.mark.slow

DEPLOYMENT = "heal"
GOAL = 15.0  # seconds from kill to the job answering again (issue 9), printed
BOUND = 60.0  # what the test asserts: generous, for a loaded 2-core machine
SECRET = "webhook-s3cret-9d"


@pytest.fixture(scope="module")
def receiver():
    with AlertReceiver() as alerts:
        yield alerts


@pytest.fixture(scope="module")
def healing(tmp_path_factory, receiver):
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-heal"),
                                {"webhook": {"url": receiver.url, "secret": SECRET}}) as local:
        local.upload_testrel()
        local.cli("deploy", "-n", write(local.root, web_manifest(DEPLOYMENT, instances=3)))
        yield local


def rows(director: LocalDirector) -> dict[int, dict]:
    return {r["index"]: r for r in director.json("instances", "-d", DEPLOYMENT)}


def heal_time(director: LocalDirector, index: int, kill) -> float:  # type: ignore[no-untyped-def]
    """Seconds from ``kill(vm_cid)`` until instance ``index`` is on a new VM, running, and
    its job answers HTTP on the same IP."""
    victim = rows(director)[index]
    ip = victim["ips"][0]
    assert answers(ip)
    kill(victim["vm_cid"])
    started = time.monotonic()

    def healed() -> bool:
        row = rows(director)[index]
        return row["vm_cid"] not in (None, victim["vm_cid"]) and answers(ip)

    wait_until(healed, 180, interval=0.25, message=f"{DEPLOYMENT}/{index} answering again")
    took = time.monotonic() - started
    after = rows(director)[index]
    assert after["ips"] == victim["ips"] and after["disk_cids"] == victim["disk_cids"]
    return took


def test_a_killed_vm_answers_again_within_seconds(healing, receiver):
    figures = [heal_time(healing, 1, lambda cid: kill_keeper(healing, cid)) for _ in range(2)]
    print(f"\nkill -9 of a VM's keeper -> job answering again: {', '.join(f'{t:.1f}s' for t in figures)} "
          f"(median {statistics.median(figures):.1f}s; goal {GOAL:g}s on the defaults)")
    assert statistics.median(figures) < BOUND
    wait_until(lambda: "resurrect" in receiver.actions(DEPLOYMENT), 10, message="a resurrect alert")
    assert "agent disconnected" in receiver.actions(DEPLOYMENT), "seen by the dropped NATS connection"
    assert all(h.get("X-Bosh-Py-Signature", "").startswith("sha256=") for h in receiver.headers)


def test_a_vm_deleted_in_the_iaas_heals_on_direct_evidence(healing):
    """The agent's connection drops with its VM (or the CPI's has_vm says the VM is gone):
    either is recorded as the evidence, before the agent timeout would have said anything."""
    took = heal_time(healing, 2, lambda cid: kill_vm_behind_the_directors_back(healing, cid))
    print(f"\nVM deleted behind the director's back -> job answering again: {took:.1f}s")
    events = healing.json("events", "-d", DEPLOYMENT)
    assert {"vm missing", "agent disconnected"} & {e["action"] for e in events}
    assert took < BOUND


def test_resurrection_off_for_a_group_holds_and_on_heals(healing, receiver):
    healing.cli("update-resurrection", "off", "-d", DEPLOYMENT, "--instance-group", "web")
    victim = rows(healing)[0]
    kill_keeper(healing, victim["vm_cid"])
    wait_until(lambda: any(e["action"] == "resurrection off" for e in healing.json("events", "-d", DEPLOYMENT)),
               60, interval=1, message="a 'resurrection off' event")
    time.sleep(3)
    assert rows(healing)[0]["vm_cid"] == victim["vm_cid"], "resurrection is off: nothing recreated"
    assert "resurrection off" in receiver.actions(DEPLOYMENT)
    healing.cli("update-resurrection", "on", "-d", DEPLOYMENT, "--instance-group", "web")
    wait_until(lambda: rows(healing)[0]["vm_cid"] != victim["vm_cid"] and answers(victim["ips"][0]), 120,
               interval=1, message="healed once resurrection is on again")


def test_the_webhook_secret_is_in_no_log(healing, receiver):
    assert receiver.alerts, "alerts were sent"
    assert SECRET not in director_log(healing)
    assert "t0k3n" not in director_log(healing), "the URL's path (a chat hook's token) is not logged"
