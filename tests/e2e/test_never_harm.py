"""Never harm: the director must not destroy what it manages.

A bus failure (the director's nats-server killed or frozen) must not make the resurrector
recreate healthy VMs, and a manifest edit (scale down, persistent disk removed, deployment
deleted) must not delete a persistent disk's data. Real VMs, a real nats-server killed by its
PID, data written through `bosh-py ssh` and read back from the CPI's disk directory.

The director runs an operator's meltdown rules (BOSH's defaults: 5 instances, 20 %), so three
silent instances are not a meltdown: only the bus rules stand between a bus hiccup and the
fleet. Health checks are fast (agent timeout 6 s, analysis every second) so the damage, if
any, happens within the test.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.manifests import web_manifest, write
from tests.harness import LocalDirector, director_with_stemcell, wait_until

pytestmark = pytest.mark.slow

AGENT_TIMEOUT = 6
DEPLOYMENT = "fleet"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-never-harm"),
                                {"agent_timeout": AGENT_TIMEOUT, "analysis_interval": 1}) as local:
        local.upload_testrel()
        local.cli("deploy", "-n", write(local.root, web_manifest(DEPLOYMENT, instances=3)))
        yield local


def nats_pid(director: LocalDirector) -> int | None:
    """The director's nats-server, from its pid file, if that process is alive."""
    try:
        pid = int((director.data_dir / "nats" / "nats.pid").read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    return pid if state != "Z" else None


def vm_cids(director: LocalDirector) -> dict[str, str | None]:
    return {r["instance"]: r["vm_cid"] for r in director.json("instances", "-d", DEPLOYMENT)}


def cpi_vms(director: LocalDirector) -> set[str]:
    listing = director.cpi("list", "--json")
    assert listing.returncode == 0, listing.stderr
    return {vm["cid"] for vm in json.loads(listing.stdout)["vms"]}


def all_running(director: LocalDirector) -> bool:
    rows = director.json("instances", "-d", DEPLOYMENT)
    return bool(rows) and all(r["process_state"] == "running" for r in rows)


def assert_nothing_was_destroyed(director: LocalDirector, before: dict[str, str | None], vms_before: set[str],
                                 since_task: int) -> None:
    assert vm_cids(director) == before, "an instance lost or changed its VM"
    assert cpi_vms(director) >= set(before.values()), "a VM was deleted in the CPI"
    tasks = [t for t in director.json("tasks", "--recent", "50") if t["id"] > since_task]
    assert not [t["description"] for t in tasks], "the director started tasks on its own"
    assert not [e for e in director.json("events", "-d", DEPLOYMENT) if e["action"] == "resurrect"]


def last_task_id(director: LocalDirector) -> int:
    return max((t["id"] for t in director.json("tasks", "--recent", "50")), default=0)


def test_killing_the_directors_nats_server_destroys_no_vm(guarded):
    director = guarded
    wait_until(lambda: all_running(director), 60, interval=1, message="the fleet running")
    before, vms_before, since = vm_cids(director), cpi_vms(director), last_task_id(director)
    old_pid = nats_pid(director)
    assert old_pid is not None, "the director's nats-server is not running"

    os.kill(old_pid, signal.SIGKILL)

    time.sleep(3 * AGENT_TIMEOUT)  # long past the timeout: the resurrector had every chance to act
    assert_nothing_was_destroyed(director, before, vms_before, since)
    assert nats_pid(director) not in (None, old_pid), "the director did not restart its nats-server"
    wait_until(lambda: all_running(director), 60, interval=1, message="every instance running again")
    assert vm_cids(director) == before
    events = director.json("events")
    assert any(e["action"] == "restarted" and e["object_type"] == "nats-server" for e in events)


def test_a_frozen_bus_is_mass_silence_not_dead_vms(guarded):
    """SIGSTOP: the server's connections stay open, so only the agents' silence shows it."""
    director = guarded
    wait_until(lambda: all_running(director), 60, interval=1, message="the fleet running")
    before, vms_before, since = vm_cids(director), cpi_vms(director), last_task_id(director)
    pid = nats_pid(director)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(3 * AGENT_TIMEOUT)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(2 * AGENT_TIMEOUT)  # the agents' heartbeats come back; stragglers get their grace
    assert_nothing_was_destroyed(director, before, vms_before, since)
    assert nats_pid(director) == pid, "a frozen server is not a dead one"
    assert any(e["action"] == "mass silence" for e in director.json("events"))
    wait_until(lambda: all_running(director), 60, interval=1, message="every instance running again")


def write_marker(director: LocalDirector, instance: str, token: str) -> None:
    director.cli("ssh", "-d", DEPLOYMENT, instance, "-c",
                 f"echo {token} > /var/vcap/store/marker && sync && cat /var/vcap/store/marker")


def disk_data(director: LocalDirector, cid: str) -> Path:
    return director.root / "cpi" / "disks" / cid / "data"


def orphaned(director: LocalDirector) -> dict[str, dict]:
    return {d["disk_cid"]: d for d in director.json("disks", "--orphaned")}


def test_persistent_disks_are_orphaned_with_their_data_never_deleted(guarded):
    director = guarded
    wait_until(lambda: all_running(director), 60, interval=1, message="the fleet running")
    rows = director.json("instances", "-d", DEPLOYMENT)
    disk_of = {r["instance"]: r["disk_cids"][0] for r in rows}
    token_of = {}
    for row in rows:
        token_of[row["instance"]] = f"data-of-{row['id']}"
        write_marker(director, f"web/{row['id']}", token_of[row["instance"]])

    # 1. scale down 3 -> 1: the two removed instances' disks are orphaned, data intact
    director.cli("deploy", "-n", write(director.root, web_manifest(DEPLOYMENT, instances=1)))
    kept = director.json("instances", "-d", DEPLOYMENT)
    assert len(kept) == 1
    gone = {name: cid for name, cid in disk_of.items() if name != kept[0]["instance"]}
    for name, cid in gone.items():
        assert (disk_data(director, cid) / "marker").read_text().strip() == token_of[name]
    listed = orphaned(director)
    assert set(listed) == set(gone.values())
    for name, cid in gone.items():
        assert listed[cid]["deployment"] == DEPLOYMENT and listed[cid]["instance"] == name

    # 2. persistent disk removed from the manifest: the remaining disk is orphaned, data intact
    survivor = kept[0]["instance"]
    director.cli("deploy", "-n", write(director.root, web_manifest(DEPLOYMENT, instances=1, disk=False)))
    assert director.json("instances", "-d", DEPLOYMENT)[0]["disk_cids"] == []
    assert (disk_data(director, disk_of[survivor]) / "marker").read_text().strip() == token_of[survivor]
    assert disk_of[survivor] in orphaned(director)

    # 3. the disk comes back: a redeploy gives the instance a new, empty disk; attach-disk puts
    #    the orphan back under it (the empty one is orphaned in turn) and the job sees the data
    director.cli("deploy", "-n", write(director.root, web_manifest(DEPLOYMENT, instances=1)))
    empty = director.json("instances", "-d", DEPLOYMENT)[0]["disk_cids"][0]
    assert empty != disk_of[survivor]
    director.cli("attach-disk", "-d", DEPLOYMENT, survivor, disk_of[survivor])
    assert director.json("instances", "-d", DEPLOYMENT)[0]["disk_cids"] == [disk_of[survivor]]
    seen = director.cli("ssh", "-d", DEPLOYMENT, survivor, "-c", "cat /var/vcap/store/marker").stdout
    assert token_of[survivor] in seen
    assert empty in orphaned(director) and disk_of[survivor] not in orphaned(director)
    wait_until(lambda: all_running(director), 60, interval=1, message="the instance running on its old disk")

    # 4. delete-deployment keeps the disks; an explicit delete-disk removes one, data and all
    director.cli("delete-deployment", "-d", DEPLOYMENT, "-n")
    assert set(orphaned(director)) == set(disk_of.values()) | {empty}
    victim = disk_of[survivor]
    director.cli("delete-disk", victim, "-n")
    assert victim not in orphaned(director)
    assert not disk_data(director, victim).parent.exists()
    for name, cid in gone.items():
        assert (disk_data(director, cid) / "marker").read_text().strip() == token_of[name]
