"""The deploy's stages through the CLI, on real VMs: the dry-run plan touches no VM; each
instance's reason is logged; the rollout goes canary first, then one AZ at a time in
batches of max_in_flight; a property change restarts in place while an env change
recreates; scale-down deletes exactly the dropped instances; a failing canary stops the
rollout naming the instance, the process and its log, and the rest keeps the old version."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.director.live_director import api, one_group_manifest, write_release
from tests.e2e.manifests import write
from tests.harness import LocalDirector, director_with_stemcell


RUN_SH = """#!/bin/sh
echo "web {{ spec.index }} starting in mode {{ p('mode') }} with token {{ p('token') }}"
{% if p('mode') == 'fail' %}echo "cannot start: mode is fail" >&2
exit 1{% else %}exec sleep 3600{% endif %}
"""

DRAIN_SH = """#!/bin/sh
echo drained >> /var/vcap/sys/log/web/drain.log
echo 0
"""


def roll_release(root) -> str:
    write_release(root, "roll", {"web": {"run.sh": RUN_SH}})
    spec_path = root / "jobs/web/spec"
    spec = yaml.safe_load(spec_path.read_text())
    spec["properties"] = {"mode": {"default": "ok"}, "token": {"default": "none"}}
    spec["templates"]["drain.sh"] = "bin/drain"
    (root / "jobs/web/templates/drain.sh").write_text(DRAIN_SH)
    spec_path.write_text(yaml.safe_dump(spec))
    (root / "jobs/web/monit").write_text(
        "processes:\n- name: web\n  executable: /bin/sh\n  args: ['/var/vcap/jobs/web/config/run.sh']\n")
    return str(root)


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy-stages")
    with director_with_stemcell(root / "director") as local:
        local.cli("upload-release", roll_release(root / "roll"))
        yield local


def manifest(instances: int = 3, mode: str = "ok", env: dict | None = None) -> dict:
    doc = one_group_manifest("stages", "roll", ["web"], instances)
    group = doc["instance_groups"][0]
    group["azs"] = ["z1", "z2"]
    group["jobs"][0]["properties"] = {"mode": mode, "token": "((web_token))"}
    doc["variables"] = [{"name": "web_token", "type": "password"}]
    if env:
        group["env"] = env
    doc["update"] = {"canaries": 1, "max_in_flight": 1, "canary_watch_time": "200-8000",
                     "update_watch_time": "200-8000"}
    return doc


def deploy(director: LocalDirector, tmp_path, doc: dict, *flags: str, check: bool = True):
    return director.cli("deploy", "-n", write(tmp_path, doc, "stages.yml"), *flags, check=check, timeout=600)


def vms(director: LocalDirector) -> dict[str, str]:
    """index -> VM cid of deployment "stages"."""
    return {str(row["index"]): row["vm_cid"] for row in director.json("instances", "-d", "stages")}


def last_task_id(director: LocalDirector) -> str:
    return str(director.json("tasks", "-r", "1")[0]["id"])


def rollout(director: LocalDirector) -> list[str]:
    debug = director.cli("task", last_task_id(director), "--debug").stdout
    return re.findall(r"Rollout of web: (.*)", debug)


@pytest.mark.vm
@pytest.mark.slow
def test_dry_run_prints_the_plan_and_touches_no_vm(director, tmp_path):
    out = deploy(director, tmp_path, manifest(), "--dry-run").stdout
    assert "create   web/0 (z1): new" in out and "create   web/1 (z2): new" in out
    assert "create   web/2 (z1): new" in out and "Plan: 3 to create" in out
    assert json.loads(director.cpi("list", "--json").stdout)["vms"] == []  # no compilation VM either
    assert "stages" not in [d["name"] for d in director.json("deployments")]
    plan = json.loads(director.cli("task", last_task_id(director), "--result").stdout)
    assert plan["dry_run"] is True
    assert [(i["instance"], i["az"], i["action"], i["changes"]) for i in plan["instances"]] == [
        ("web/0", "z1", "create", ["new"]), ("web/1", "z2", "create", ["new"]), ("web/2", "z1", "create", ["new"])]


@pytest.mark.vm
@pytest.mark.slow
def test_rollout_reasons_order_restart_recreate_and_scale_down(director, tmp_path):
    out = deploy(director, tmp_path, manifest()).stdout
    assert "web/0: new" in out
    # canary, then az z1 then az z2, one at a time (the planner spreads 0,2 in z1 and 1 in z2)
    first = vms(director)
    assert len(set(first.values())) == 3
    events = [json.loads(line) for line in director.cli("task", last_task_id(director), "--event").stdout.splitlines()]
    creating = [e["state"] for e in events if e.get("stage") == "Creating missing vms"]
    assert creating[:3] == ["started"] * 3 and creating.count("finished") == 3  # made in parallel

    out = deploy(director, tmp_path, manifest(mode="calm"), "--dry-run").stdout
    assert "restart  web/1 (z2): configuration" in out and "Plan: 3 to restart" in out
    out = deploy(director, tmp_path, manifest(mode="calm")).stdout
    assert "web/2: configuration" in out
    assert rollout(director) == ["canary (az z1): web/0", "batch 2 (az z1): web/2", "batch 3 (az z2): web/1"]
    assert vms(director) == first  # a property change restarts in place

    out = deploy(director, tmp_path, manifest(mode="calm"), "--max-in-flight", "2", "--canaries", "0").stdout
    assert "No instances to update" in out

    env = {"stages_test": "v2"}
    out = deploy(director, tmp_path, manifest(instances=2, mode="calm", env=env), "--dry-run").stdout
    assert "recreate web/0 (z1): env" in out and "delete   web/2 (z1): obsolete" in out
    deploy(director, tmp_path, manifest(instances=2, mode="calm", env=env), "--canaries", "0",
           "--max-in-flight", "2")
    after = vms(director)
    assert sorted(after) == ["0", "1"]  # exactly the dropped instance is gone
    assert not set(after.values()) & set(first.values())  # an env change recreates
    assert rollout(director) == ["batch 1 (az z1): web/0", "batch 2 (az z2): web/1"]


@pytest.mark.vm
@pytest.mark.slow
def test_a_failing_canary_stops_the_rollout_and_the_rest_keeps_running(director, tmp_path):
    deploy(director, tmp_path, manifest(instances=2, mode="calm"))
    before = {row["index"]: row for row in director.json("instances", "-d", "stages")}
    result = deploy(director, tmp_path, manifest(instances=2, mode="fail"), check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert re.search(r"'web/[0-9a-f-]+' is not running after update", output), output
    assert "cannot start: mode is fail" in output  # the last lines of its log
    token = director.cli("get-variable", "-d", "stages", "web_token").stdout.strip()
    assert len(token) > 8 and token not in output and "with token ((redacted))" in output
    assert token not in director.cli("task", last_task_id(director), "--debug").stdout
    assert rollout(director) == ["canary (az z1): web/0"]  # the batch after it never started
    rows = {row["index"]: row for row in director.json("instances", "-d", "stages", "--ps")}
    assert rows[1]["vm_cid"] == before[1]["vm_cid"] and rows[1]["process_state"] == "running"
    # the next deploy with a good manifest fixes the canary
    deploy(director, tmp_path, manifest(instances=2, mode="calm"))


@pytest.mark.vm
@pytest.mark.slow
def test_fix_recreates_only_the_instance_whose_agent_is_silent(director, tmp_path):
    before = vms(director)
    # freeze web/0's agent from inside its VM (the VM's own pid namespace); --fix replaces the VM
    director.cli("ssh", "-d", "stages", "web/0", "-c", "kill -STOP $(pgrep -f '[a]gent.pyz')")
    out = deploy(director, tmp_path, manifest(instances=2, mode="calm"), "--fix").stdout
    assert "web/0: unresponsive_agent" in out and "web/1:" not in out
    after = vms(director)
    assert after["0"] != before["0"] and after["1"] == before["1"]


@pytest.mark.vm
@pytest.mark.slow
def test_skip_drain_stops_without_the_drain_script(director, tmp_path):
    def drains() -> int:
        out = director.cli("ssh", "-d", "stages", "web/1", "-c",
                           "cat /var/vcap/sys/log/web/drain.log 2>/dev/null || true").stdout
        return out.count("drained")

    before = drains()
    deploy(director, tmp_path, manifest(instances=2, mode="quiet"), "--skip-drain")
    assert drains() == before
    deploy(director, tmp_path, manifest(instances=2, mode="calm"))
    assert drains() == before + 1
    director.cli("restart", "-d", "stages", "web/1", "--skip-drain")
    assert drains() == before + 1
    director.cli("restart", "-d", "stages", "web/1")
    assert drains() == before + 2


@pytest.mark.vm
@pytest.mark.slow
def test_create_swap_delete_moves_instances_to_new_namespace_vms(director, tmp_path):
    """The local CPI's VMs (namespaces with their own IP): the new ones run beside the old ones
    on new addresses, the instances move, and the old namespaces are deleted at the end."""
    doc = manifest(instances=2, mode="calm", env={"stages_test": "swap"})
    doc["update"]["vm_strategy"] = "create-swap-delete"
    before = {row["index"]: row for row in director.json("instances", "-d", "stages")}
    deploy(director, tmp_path, doc)
    after = {row["index"]: row for row in director.json("instances", "-d", "stages", "--ps")}
    for index in before:
        assert after[index]["vm_cid"] != before[index]["vm_cid"] and after[index]["ips"] != before[index]["ips"]
        assert after[index]["process_state"] == "running"
    listed = {vm["cid"] for vm in json.loads(director.cpi("list", "--json").stdout)["vms"]}
    assert listed == {row["vm_cid"] for row in after.values()}  # the old VMs are gone
    assert director.json("orphaned-vms") == []


@pytest.mark.vm
@pytest.mark.slow
@pytest.mark.parametrize("field, value, message", [
    ("canaries", "lots", "canaries: expected integer or percentage like '25%', found 'lots'"),
    ("max_in_flight", -2, "max_in_flight: expected a number not below 0, found -2"),
    ("skip_drain", "yes", "skip_drain: expected true or false"),
    ("fix", 1, "fix: expected true or false"),
])
def test_the_api_refuses_bad_deploy_flags_by_name(director, field, value, message):
    before = last_task_id(director)
    with api(director) as http:
        response = http.post("/deployments", json={"manifest": yaml.safe_dump(manifest()), field: value})
    assert response.status_code == 400 and message in response.text
    assert last_task_id(director) == before  # refused before any task started


def test_a_dependency_change_invalidates_the_compiled_cache(make_director):
    """Package ``app`` depends on ``lib``: a new ``lib`` means ``app`` must be compiled again,
    and the instance's packages change (restart, not recreate)."""
    from bosh_py.director.changes import CurrentInstance, PlannedInstance, instance_changes, needs_vm
    from bosh_py.director.compiler import CompiledRef, SourcePackage, StemcellRef, dependency_keys, record
    from bosh_py.director.config import bundled_cpi
    from bosh_py.director.stages.compile import NOT_COMPILED, cached_only

    director = make_director(bundled_cpi())
    stemcell = StemcellRef("bosh-py-local", "debian-bookworm", "1.0", (("default", "sc"),))

    def packages(lib_fingerprint: str) -> dict:
        return {("rel", "app"): SourcePackage("rel", "app", "a" * 40, ("lib",), "src-app", "sha256:a"),
                ("rel", "lib"): SourcePackage("rel", "lib", lib_fingerprint, (), "src-lib", "sha256:l")}

    old = packages("1" * 40)
    for ref, key in dependency_keys(old).items():
        blob_id, digest = director.blobstore.put_bytes(f"compiled {ref[1]}".encode())
        record(director, old[ref], stemcell, key, CompiledRef(ref[1], old[ref].fingerprint, blob_id, digest))
    before = cached_only(director, old, stemcell)
    assert NOT_COMPILED not in {ref.blobstore_id for ref in before.values()}

    after = cached_only(director, packages("2" * 40), stemcell)
    assert after[("rel", "app")].blobstore_id == NOT_COMPILED  # same app source, new dependency
    assert after[("rel", "lib")].blobstore_id == NOT_COMPILED

    spec = {"configuration_hash": "c", "packages": {"app": before[("rel", "app")].as_spec()}}
    current = CurrentInstance(True, "digest", spec)
    planned = PlannedInstance({}, "digest", {**spec, "packages": {"app": after[("rel", "app")].as_spec()}})
    names = instance_changes(current, planned)
    assert names == {"packages"} and not needs_vm(names)


# --- on the dummy CPI (real director, CLI and agents; VMs are processes: no root, seconds) ------

@pytest.fixture(scope="module")
def dummy(tmp_path_factory):
    from tests.director.dummy_support import dummy_director
    with dummy_director(tmp_path_factory.mktemp("stages-dummy")) as director:
        yield director


def dummy_manifest(dummy, instances: int = 4, greeting: str = "hello", env: dict | None = None,
                   max_in_flight: int = 1) -> str:
    from tests.director.dummy_support import manifest as base
    doc = base(instances=instances, greeting=greeting)
    doc["update"]["max_in_flight"] = max_in_flight
    if env:
        doc["instance_groups"][0]["env"] = env
    path = dummy.root / "stages.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def dummy_rollout(dummy) -> list[str]:
    task = str(dummy.json("tasks", "-r", "1")[0]["id"])
    return re.findall(r"Rollout of loop: (.*)", dummy.cli("task", task, "--debug").stdout)


def by_index(dummy) -> dict[int, str]:
    return {row["index"]: row["vm_cid"] for row in dummy.json("instances", "-d", "dummy")}


def test_dummy_dry_run_touches_no_vm_then_canary_and_per_az_batches(dummy):
    out = dummy.cli("deploy", "-n", "--dry-run", dummy_manifest(dummy)).stdout
    assert "Plan: 4 to create" in out and dummy.vms() == {}
    dummy.cli("deploy", "-n", dummy_manifest(dummy))
    first = by_index(dummy)

    out = dummy.cli("deploy", "-n", "--dry-run", dummy_manifest(dummy, greeting="hi")).stdout
    assert "restart  loop/3 (z2): configuration" in out and "Plan: 4 to restart" in out
    out = dummy.cli("deploy", "-n", dummy_manifest(dummy, greeting="hi", max_in_flight=2)).stdout
    assert "loop/0: configuration" in out
    assert dummy_rollout(dummy) == ["canary (az z1): loop/0", "batch 2 (az z1): loop/2",
                                    "batch 3 (az z2): loop/1, loop/3"]
    assert by_index(dummy) == first  # restarted in place


def test_dummy_failing_canary_halts_and_the_rest_keeps_its_vm(dummy):
    before = by_index(dummy)
    dummy.fail_next("create_vm", "VMCreationFailed", times=None)
    try:
        result = dummy.cli("deploy", "-n", dummy_manifest(dummy, greeting="hi", env={"rev": 2}), check=False)
    finally:
        (dummy.state_dir / "failures.json").write_text("{}")
    assert result.returncode == 1 and "VMCreationFailed" in result.stdout + result.stderr
    assert dummy_rollout(dummy) == ["canary (az z1): loop/0"]  # no batch after the canary started
    after = by_index(dummy)
    assert {i: after[i] for i in (1, 2, 3)} == {i: before[i] for i in (1, 2, 3)}
    assert all(row["process_state"] == "running" for row in dummy.json("instances", "-d", "dummy", "--ps")
               if row["index"] != 0)


def test_dummy_env_change_recreates_and_scale_down_deletes_exactly_the_dropped(dummy):
    before = by_index(dummy)
    out = dummy.cli("deploy", "-n", dummy_manifest(dummy, instances=2, greeting="hi", env={"rev": 2},
                                                   max_in_flight=2)).stdout
    assert "loop/0: new" in out  # the failed canary of the test before lost its VM (delete-create)
    assert "loop/1: env" in out, out
    after = by_index(dummy)
    assert sorted(after) == [0, 1] and after[1] != before[1]
    assert set(dummy.vms()) == set(after.values())  # the dropped instances' VMs are gone, nothing else
