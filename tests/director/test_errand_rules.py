"""Errand rules without a VM: which jobs are errands, where `run-errand NAME` runs (BOSH's
rules for a name that is an instance group or a job), `--instance` selection, and how the
planner treats `lifecycle: errand` groups on deploy and on run-errand."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

from bosh_py.agent.actions import ACTIONS
from bosh_py.agent.actions import run_errand as run_errand_action
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.paths import Paths
from bosh_py.director import errands
from bosh_py.director.errands import ErrandError, GroupJobs, InstanceRef
from bosh_py.director.models import Instance
from bosh_py.director.planner import plan_deployment
from tests.director.test_planner import CLOUD, manifest, session  # noqa: F401  (fixture)

GROUPS = [
    GroupJobs("web", "service", ("web", "checker"), ("checker",)),
    GroupJobs("db", "service", ("db", "checker"), ("checker",)),
    GroupJobs("smoke", "errand", ("smoke_tests", "helper"), ("smoke_tests",)),
    GroupJobs("checker", "errand", ("other",), ("other",)),  # a group named like a job
    GroupJobs("empty", "errand", ("web",), ()),
]


def test_a_job_is_an_errand_when_a_template_lands_on_bin_run():
    assert errands.is_errand_job({"run.sh": "bin/run", "cfg.j2": "config/x"})
    assert errands.is_errand_job({"run.erb": "/bin/run"})
    assert not errands.is_errand_job({"run.sh": "bin/run-me", "pre.sh": "bin/pre-start"})
    assert not errands.is_errand_job({})


def test_group_jobs_reads_the_manifest_with_the_release_answer():
    doc = {"instance_groups": [
        {"name": "api", "jobs": [{"name": "cc", "release": "r"}, {"name": "smoke", "release": "r"}]},
        {"name": "e", "lifecycle": "errand", "jobs": [{"name": "smoke", "release": "r"}]}]}
    groups = errands.group_jobs(doc, lambda release, job: job == "smoke")
    assert groups == [GroupJobs("api", "service", ("cc", "smoke"), ("smoke",)),
                      GroupJobs("e", "errand", ("smoke",), ("smoke",))]
    assert errands.errand_names(groups) == ["e", "smoke"]


def test_errand_names_lists_groups_and_jobs_once():
    assert errands.errand_names(GROUPS) == ["checker", "other", "smoke", "smoke_tests"]


@pytest.mark.parametrize("name, expected", [
    ("smoke", [("smoke", "errand", ("smoke_tests",))]),  # a lifecycle errand group: its errand jobs
    ("smoke_tests", [("smoke", "errand", ("smoke_tests",))]),  # a job name: where the job is
    ("checker", [("checker", "errand", ("other",))]),  # the errand group wins over the job name
    ("other", [("checker", "errand", ("other",))]),
])
def test_resolve_follows_bosh_rules(name, expected):
    assert [(t.group, t.lifecycle, t.jobs) for t in errands.resolve(name, GROUPS, "d")] == expected


def test_a_job_name_runs_colocated_on_every_group_that_has_it():
    groups = GROUPS[:2]
    targets = errands.resolve("checker", groups, "d")
    assert [(t.group, t.lifecycle, t.jobs) for t in targets] == [("web", "service", ("checker",)),
                                                                  ("db", "service", ("checker",))]


@pytest.mark.parametrize("name, message", [
    ("helper", "Job 'helper' has no bin/run, so it is not an errand (errands of deployment 'd': checker, other, "
            "smoke, smoke_tests)"),
    ("db", "Instance group 'db' is not an errand: set `lifecycle: errand` on it"),
    ("empty", "Instance group 'empty' has lifecycle errand but none of its jobs (web) has a template "
              "with destination bin/run"),
    ("nope", "Errand 'nope' doesn't exist in deployment 'd' (errands: checker, other, smoke, smoke_tests)"),
])
def test_resolve_names_what_is_wrong(name, message):
    with pytest.raises(ErrandError) as error:
        errands.resolve(name, GROUPS, "d")
    assert message in str(error.value)


REFS = {"web": [InstanceRef("web", "u0", 0), InstanceRef("web", "u1", 1)], "db": [InstanceRef("db", "u9", 0)]}


def test_select_by_group_index_or_id():
    assert errands.select(REFS, [], "checker") == REFS["web"] + REFS["db"]
    assert errands.select(REFS, ["web/1"], "checker") == [REFS["web"][1]]
    assert errands.select(REFS, ["web/u0", "db"], "checker") == [REFS["web"][0], REFS["db"][0]]
    assert errands.select(REFS, ["web", "web/0"], "checker") == REFS["web"]  # no duplicates


@pytest.mark.parametrize("selector, message", [
    ("web/7", "--instance 'web/7': no instance of errand 'checker' matches (instances that have it: "
              "web/0, web/1, db/0)"),
    ("api", "--instance 'api': no instance"),
    ("web/", "--instance 'web/': expected GROUP or GROUP/ID or GROUP/INDEX"),
    ("/0", "expected GROUP or GROUP/ID or GROUP/INDEX"),
    ("web/0/1", "expected GROUP"),
])
def test_select_refuses_what_matches_nothing(selector, message):
    with pytest.raises(ErrandError) as error:
        errands.select(REFS, [selector], "checker")
    assert message in str(error.value)


# --- the planner -----------------------------------------------------------------------------

def with_errand_group(doc: dict, first: bool = False) -> dict:
    doc = copy.deepcopy(doc)
    errand = {**copy.deepcopy(doc["instance_groups"][0]), "name": "smoke", "lifecycle": "errand", "instances": 2,
              "azs": ["z1"]}
    doc["instance_groups"].insert(0 if first else 1, errand)
    return doc


def test_a_deploy_plans_errand_groups_without_instances(session):  # noqa: F811
    plan = plan_deployment(session, with_errand_group(manifest()), CLOUD, [], set())
    assert [g.name for g in plan.groups] == ["web", "smoke"]
    assert [g.lifecycle for g in plan.groups] == ["service", "errand"]
    assert len(plan.groups[0].instances) == 3 and plan.groups[1].instances == []
    assert plan.groups[1].jobs, "its jobs are still validated, linked and compiled"


def test_run_errand_plans_errand_instances_after_the_service_ips(session):  # noqa: F811
    doc = with_errand_group(manifest(), first=True)  # listed before web: must not take web's IPs
    deployed = plan_deployment(session, doc, CLOUD, [], set())
    rows = [Instance(id=n + 1, deployment_id=1, group=i.group, index=i.index, uuid=i.uuid, az=i.az, ip=i.ip,
                     state="started") for n, i in enumerate(deployed.groups[1].instances)]
    plan = plan_deployment(session, doc, CLOUD, rows, set(), errands=True)
    assert [g.name for g in plan.groups] == ["smoke", "web"], "the manifest's order is kept"
    web, smoke = plan.groups[1].instances, plan.groups[0].instances
    assert [i.ip for i in web] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert [i.ip for i in smoke] == ["10.0.0.13", "10.0.0.14"]
    assert [i.uuid for i in web] == [r.uuid for r in rows], "service instances keep their identity"


def test_a_deploy_keeps_a_kept_alive_errand_vms_ip_reserved(session):  # noqa: F811
    doc = with_errand_group(manifest(instances=1))
    errand_row = Instance(id=7, deployment_id=1, group="smoke", index=0, uuid="e0", az="z1", ip="10.0.0.11",
                          state="started")
    plan = plan_deployment(session, {**doc, "instance_groups": [
        {**doc["instance_groups"][0], "instances": 3}, doc["instance_groups"][1]]}, CLOUD, [errand_row], set())
    assert "10.0.0.11" not in [i.ip for i in plan.groups[0].instances]
    assert plan.obsolete_instance_ids == [7], "the deploy deletes the kept-alive errand VM"


# --- the agent action, run directly on a temporary root ------------------------------------------

class _Ctx:
    def __init__(self, root: Path) -> None:
        self.paths = Paths(root)


def _job(root: Path, job: str, script: str) -> None:
    path = root / "var/vcap/jobs" / job / "bin" / "run"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_run_errand_action_is_registered():
    assert ACTIONS["run_errand"] is run_errand_action and run_errand_action.ASYNC


def test_run_errand_action_answers_exit_code_and_both_streams(tmp_path):
    _job(tmp_path, "smoke", 'echo "out $GREETING"; echo err >&2; exit 3\n')
    result = asyncio.run(run_errand_action.run(_Ctx(tmp_path), "smoke", {"env": {"GREETING": "hi"}}))
    assert result == {"job": "smoke", "exit_code": 3, "stdout": "out hi\n", "stderr": "err\n"}
    log = tmp_path / "var/vcap/sys/log/smoke"
    assert (log / "errand.stdout.log").read_text() == "out hi\n"
    assert (log / "errand.stderr.log").read_text() == "err\n"


def test_run_errand_action_keeps_the_tail_of_long_output(tmp_path):
    _job(tmp_path, "big", "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done\n")
    result = asyncio.run(run_errand_action.run(_Ctx(tmp_path), "big", {}))
    assert result["exit_code"] == 0
    assert result["stdout"].startswith("(output truncated: the full log is in /var/vcap/sys/log/big/errand.stdout.log)")
    assert result["stdout"].endswith("line-19999\n") and len(result["stdout"]) < 70 * 1024
    assert "line-0\n" in (tmp_path / "var/vcap/sys/log/big/errand.stdout.log").read_text()


def test_run_errand_action_timeout_kills_the_whole_group(tmp_path):
    marker = tmp_path / "child.pid"
    _job(tmp_path, "slow", f"sleep 60 & echo $! > {marker}; wait\n")
    result = asyncio.run(run_errand_action.run(_Ctx(tmp_path), "slow", {"timeout": 0.5}))
    assert result["exit_code"] == 137
    assert "killed after 0.5s" in result["stderr"]
    child = int(marker.read_text())
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_run_errand_action_cancel_kills_the_script(tmp_path):
    marker = tmp_path / "pid"
    _job(tmp_path, "slow", f"echo $$ > {marker}; exec sleep 60\n")

    async def go() -> None:
        task = asyncio.create_task(run_errand_action.run(_Ctx(tmp_path), "slow", {}))
        for _ in range(100):
            if marker.exists() and marker.read_text().strip():
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.mark.parametrize("job, options, message", [
    ("nojob", {}, "job 'nojob' has no bin/run on this instance"),
    ("../etc", {}, "invalid job name"),
    ("smoke", {"timeout": -1}, "options.timeout must be a positive number"),
])
def test_run_errand_action_refuses_bad_input(tmp_path, job, options, message):
    _job(tmp_path, "smoke", "exit 0\n")
    with pytest.raises(AgentActionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        asyncio.run(run_errand_action.run(_Ctx(tmp_path), job, options))
