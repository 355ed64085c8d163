"""`bosh-py recreate` and `restart` roll out like `deploy`: --canaries, --max-in-flight and
--dry-run (recreate also --fix). Through the real CLI against a real director whose VMs are
real agents on the dummy CPI: a dry run touches no VM and prints the plan; the batches
follow the flags (canaries first, then each AZ in batches of max_in_flight, as the task's
debug log records them); --fix replaces a VM whose agent is frozen; a flag an action
cannot honour is refused by name."""

from __future__ import annotations

import os
import re
import signal

import pytest
import yaml

from bosh_py.director.jobs.restart_rollout import describe_batch, restart_rollout
from bosh_py.director.models import Instance
from tests.director.dummy_support import DummyDirector, dummy_director, manifest
from tests.director.live_director import api
from tests.harness import wait_until


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    with dummy_director(tmp_path_factory.mktemp("instance-action-flags")) as started:
        doc = manifest(instances=4)  # z1: loop/0, loop/2; z2: loop/1, loop/3
        doc["update"].update({"canaries": 1, "max_in_flight": 1, "canary_watch_time": "100-5000",
                              "update_watch_time": "100-5000"})
        path = started.root / "four.yml"
        path.write_text(yaml.safe_dump(doc))
        started.cli("deploy", "-n", str(path))
        yield started


def vm_by_index(director: DummyDirector) -> dict[int, str]:
    return {row["index"]: row["vm_cid"] for row in director.json("instances", "-d", "dummy")}


def job_pids(director: DummyDirector) -> dict[str, set[str]]:
    """VM cid -> pids its job pidfiles name (a restart starts new job processes)."""
    found = {}
    for cid in director.vms():
        run = director.state_dir / "vms" / cid / "var/vcap/data/sys/run"
        found[cid] = {p.read_text().strip() for p in run.glob("*/*.pid")} if run.exists() else set()
    return found


def last_task(director: DummyDirector) -> dict:
    return director.json("tasks", "-r", "1")[0]


def rollout(director: DummyDirector) -> list[str]:
    debug = director.cli("task", str(last_task(director)["id"]), "--debug").stdout
    return re.findall(r"Rollout of loop: (.*)", debug)


def test_recreate_dry_run_prints_the_plan_and_touches_no_vm(director):
    before, pids = vm_by_index(director), job_pids(director)
    out = director.cli("recreate", "-d", "dummy", "--dry-run", "--max-in-flight", "2").stdout
    assert "recreate loop/0 (z1): recreate" in out and "Plan: 4 to recreate" in out, out
    assert last_task(director)["description"] == "recreate instances (dry run)"
    assert vm_by_index(director) == before and job_pids(director) == pids
    assert set(director.vms()) == set(before.values())


def test_recreate_batches_as_the_flags_say(director):
    before = vm_by_index(director)
    director.cli("recreate", "-d", "dummy", "-n", "--max-in-flight", "2", "--canaries", "1")
    assert rollout(director) == ["canary (az z1): loop/0", "batch 2 (az z1): loop/2",
                                 "batch 3 (az z2): loop/1, loop/3"]
    after = vm_by_index(director)
    assert sorted(after) == [0, 1, 2, 3] and not set(after.values()) & set(before.values())


def test_restart_dry_run_prints_the_batches_and_restarts_nothing(director):
    pids = job_pids(director)
    events_before = len(director.json("events"))
    out = director.cli("restart", "-d", "dummy", "--dry-run", "--canaries", "0", "--max-in-flight", "50%").stdout
    assert "Rollout of loop: batch 1 (az z1): loop/0, loop/2" in out
    assert "Rollout of loop: batch 2 (az z2): loop/1, loop/3" in out and "Plan: 4 to restart" in out
    assert job_pids(director) == pids and len(director.json("events")) == events_before


def test_restart_batches_as_the_flags_say(director):
    vms, pids = vm_by_index(director), job_pids(director)
    director.cli("restart", "-d", "dummy", "--max-in-flight", "2")
    # the manifest's one canary, then each AZ in batches of two
    assert rollout(director) == ["canary (az z1): loop/0", "batch 2 (az z1): loop/2",
                                 "batch 3 (az z2): loop/1, loop/3"]
    assert vm_by_index(director) == vms  # restarted in place
    after = job_pids(director)
    assert all(after[cid] and after[cid] != pids[cid] for cid in vms.values()), (pids, after)

    director.cli("restart", "-d", "dummy", "loop/1")  # no flags: the manifest's update block
    assert rollout(director) == ["canary (az z2): loop/1"]


def test_recreate_fix_replaces_the_vm_whose_agent_is_frozen(director):
    before = vm_by_index(director)
    frozen = director.vms()[before[0]]["pid"]
    os.kill(frozen, signal.SIGSTOP)
    try:
        out = director.cli("recreate", "-d", "dummy", "-n", "--fix", "loop/0", timeout=300).stdout
        assert "loop/0: recreate, unresponsive_agent" in out or "unresponsive_agent" in out, out
    finally:
        try:
            os.kill(frozen, signal.SIGCONT)
        except ProcessLookupError:
            pass  # the recreate deleted the VM, and its agent with it
    after = vm_by_index(director)
    assert after[0] != before[0] and {i: after[i] for i in (1, 2, 3)} == {i: before[i] for i in (1, 2, 3)}
    wait_until(lambda: before[0] not in director.vms(), message="the frozen VM deleted")


@pytest.mark.parametrize("body, message", [
    ({"action": "restart", "fix": True}, "fix: not an option of 'restart'"),
    ({"action": "stop", "canaries": 1}, "canaries: not an option of 'stop'"),
    ({"action": "start", "dry_run": True}, "dry_run: not an option of 'start'"),
    ({"action": "recreate", "max_in_flight": "lots"}, "max_in_flight: expected integer or percentage"),
    ({"action": "recreate", "dry_run": "yes"}, "dry_run: expected true or false"),
])
def test_the_api_refuses_flags_an_action_cannot_honour(director, body, message):
    before = last_task(director)["id"]
    with api(director) as http:
        response = http.post("/deployments/dummy/instances/action", json=body)
    assert response.status_code == 400 and message in response.text, response.text
    assert last_task(director)["id"] == before  # refused before any task started


def test_the_cli_checks_counts_and_offers_the_flags_only_where_they_apply(director):
    result = director.cli("recreate", "-d", "dummy", "-n", "--canaries", "lots", check=False)
    assert result.returncode != 0 and "--canaries" in result.stderr and "lots" in result.stderr
    result = director.cli("start", "-d", "dummy", "--dry-run", check=False)
    assert result.returncode != 0 and "No such option '--dry-run'" in result.stderr
    result = director.cli("restart", "-d", "dummy", "--fix", check=False)
    assert result.returncode != 0 and "No such option '--fix'" in result.stderr


def test_restart_rollout_takes_percentages_of_the_whole_group_and_its_az_order():
    """Pure: restarting 4 of a 10-instance group with max_in_flight 20% goes 2 at a time;
    the group's azs order (z2 first) decides the order; a group gone from the manifest last."""
    rows = [Instance(group="web", index=i, az=az) for i, az in ((0, "z1"), (1, "z2"), (2, "z1"), (3, "z2"))]
    rows.append(Instance(group="gone", index=0, az="z1"))
    doc = {"update": {"canaries": 1, "max_in_flight": "20%"},
           "instance_groups": [{"name": "web", "instances": 10, "azs": ["z2", "z1"]}]}
    rollout = restart_rollout(rows, doc, None, None)
    lines = [describe_batch(g.group, n, b) for g in rollout for n, b in enumerate(g.batches, start=1)]
    assert lines == ["Rollout of web: canary (az z2): web/1", "Rollout of web: batch 2 (az z2): web/3",
                     "Rollout of web: batch 3 (az z1): web/0, web/2", "Rollout of gone: canary (az z1): gone/0"]
    overridden = restart_rollout(rows[:4], doc, 0, 1)
    assert [len(b.members) for b in overridden[0].batches] == [1, 1, 1, 1] and not overridden[0].batches[0].canary
