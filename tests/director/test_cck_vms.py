"""`bosh-py cck` and `bosh-py orphaned-vms` against real VMs on the local CPI, through the
CLI as an operator runs them: a VM the director made but never saved (it died in between)
is listed, reported and deleted, after which its IP deploys again; a VM deleted behind the
director's back is a missing VM, recreated on request; a VM whose keeper was killed is an
unresponsive agent, rebooted on request. Resurrection is switched off director-wide first
(`update-resurrection off`), so the resurrector does not race the operator."""

from __future__ import annotations

import json
import subprocess

import pytest

from bosh_py.director.db import open_database
from bosh_py.director.models import Instance
from bosh_py.director.orphan_vms import orphan_vm
from tests.e2e.heal_support import answers, kill_keeper
from tests.e2e.manifests import web_manifest, write
from tests.harness import BIN, LocalDirector, director_with_stemcell, wait_until

pytestmark = [pytest.mark.vm, pytest.mark.slow]

DEPLOYMENT = "cck"


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    root = tmp_path_factory.mktemp("cck-vms")
    with director_with_stemcell(root / "director") as local:
        local.upload_testrel()
        local.cli("update-resurrection", "off")
        local.cli("deploy", "-n", write(local.root, web_manifest(DEPLOYMENT, instances=2)))
        yield local


def cpi_call(director: LocalDirector, method: str, *arguments: object) -> object:
    request = {"method": method, "arguments": list(arguments), "context": {}, "api_version": 2}
    result = subprocess.run([str(BIN / "bosh-py-cpi-local"), str(director.cpi_config)], input=json.dumps(request),
                            capture_output=True, text=True, check=True)
    answer = json.loads(result.stdout)
    assert answer["error"] is None, answer["error"]
    return answer["result"]


def rows(director: LocalDirector) -> dict[int, dict]:
    return {r["index"]: r for r in director.json("instances", "-d", DEPLOYMENT)}


def cck_report(director: LocalDirector) -> list[dict]:
    result = director.cli("cck", "-d", DEPLOYMENT, "--json", check=False)
    body = result.stdout[result.stdout.index("\n["):] if "\n[" in result.stdout else "[]"
    problems = json.loads(body)
    assert result.returncode == (1 if problems else 0), result.stdout + result.stderr
    return problems


def forget_vm_as_a_crashed_director_would(director: LocalDirector, index: int) -> dict:
    """The state a director leaves when it dies after the CPI's create_vm answered and
    before the instance row was saved: an intent with the cid, no instance holding it."""
    sessions = open_database(f"sqlite:///{director.data_dir / 'director.db'}")
    with sessions.begin() as session:
        row = next(i for i in session.query(Instance) if i.index == index)
        vm = {"cid": row.vm_cid, "agent_id": row.agent_id, "ip": row.ip}
        # create_vm's intent may still be there (nothing pruned it yet) or not: make sure
        orphan_vm(session, row.vm_cid, row.agent_id, row.cpi, row.ip, DEPLOYMENT, f"{row.group}/{row.uuid}")
        row.vm_cid = row.agent_id = row.host_public_key = row.vm_spec_digest = None
    sessions.kw["bind"].dispose()
    return vm


def test_a_vm_the_director_never_saved_is_listed_deleted_and_its_ip_deploys_again(director):
    vm = forget_vm_as_a_crashed_director_would(director, 1)
    listed = director.json("orphaned-vms")
    assert [(o["cid"], o["ip"], o["deployment"]) for o in listed] == [(vm["cid"], vm["ip"], DEPLOYMENT)]
    problems = cck_report(director)
    assert [(p["type"], p["resource"]) for p in problems] == [("unknown_vm", vm["cid"])]
    assert cpi_call(director, "has_vm", vm["cid"]) is True, "a scan changes nothing"
    director.cli("cck", "-d", DEPLOYMENT, "--auto")
    assert cpi_call(director, "has_vm", vm["cid"]) is False
    assert director.json("orphaned-vms") == []
    director.cli("deploy", "-n", write(director.root, web_manifest(DEPLOYMENT, instances=2)))
    after = rows(director)[1]
    assert after["vm_cid"] not in (None, vm["cid"]) and after["ips"] == [vm["ip"]]
    wait_until(lambda: answers(vm["ip"]), 60, interval=0.5, message="the job on the IP again")
    assert cck_report(director) == []


def test_a_missing_vm_is_reported_then_recreated_on_request(director):
    victim = rows(director)[0]
    cpi_call(director, "delete_vm", victim["vm_cid"])
    problems = cck_report(director)
    assert [(p["type"], p["resource"]) for p in problems] == [("missing_vm", victim["vm_cid"])]
    assert problems[0]["resolutions"][:2] == ["recreate_vm", "delete_vm_reference"]
    director.cli("cck", "-d", DEPLOYMENT, "--resolution", "missing_vm=recreate_vm")
    after = rows(director)[0]
    assert after["vm_cid"] != victim["vm_cid"] and after["disk_cids"] == victim["disk_cids"]
    wait_until(lambda: answers(victim["ips"][0]), 60, interval=0.5, message="the job answering again")
    events = director.json("events", "-d", DEPLOYMENT)
    assert any(e["action"] == "resolve problem" and e["object_name"] == "missing_vm" for e in events)


def test_an_unresponsive_agent_is_rebooted_on_request(director):
    victim = rows(director)[0]
    kill_keeper(director, victim["vm_cid"])
    problems = cck_report(director)
    assert [(p["type"], p["resource"]) for p in problems] == [("unresponsive_agent", victim["vm_cid"])]
    director.cli("cck", "-d", DEPLOYMENT, "--resolution", "unresponsive_agent=reboot_vm")
    assert rows(director)[0]["vm_cid"] == victim["vm_cid"], "rebooted, not recreated"
    wait_until(lambda: answers(victim["ips"][0]), 60, interval=0.5, message="the job answering after the reboot")
    assert cck_report(director) == []


def test_bad_resolutions_are_refused_naming_what(director):
    result = director.cli("cck", "-d", DEPLOYMENT, "--resolution", "missing_vm=explode", check=False)
    assert result.returncode == 1 and "resolution for missing_vm 'explode'" in result.stderr + result.stdout
    result = director.cli("cck", "-d", "nope", "--auto", check=False)
    assert result.returncode == 1 and "Deployment 'nope' doesn't exist" in result.stderr + result.stdout
    result = director.cli("update-resurrection", "off", "--instance-group", "web", check=False)
    assert result.returncode == 1 and "--instance-group needs -d" in result.stderr + result.stdout


def test_the_api_refuses_strangers_and_names_bad_fields(director):
    from tests.director.live_director import api

    with api(director, authenticated=False) as stranger:
        assert stranger.get("/orphaned_vms").status_code == 401
        assert stranger.put("/resurrection", json={"resurrection": "off"}).status_code == 401
        assert stranger.post(f"/deployments/{DEPLOYMENT}/problems", json={"auto": True}).status_code == 401
    with api(director) as operator:
        bad = operator.put("/resurrection", json={"resurrection": "maybe"})
        assert bad.status_code == 400 and "resurrection: expected" in bad.json()["error"]
        bad = operator.put("/resurrection", json={"resurrection": "on", "instance_group": "web"})
        assert bad.status_code == 400 and "instance_group: needs a deployment" in bad.json()["error"]
        bad = operator.post(f"/deployments/{DEPLOYMENT}/problems", json={"resolutions": {"missing_vm": 3}})
        assert bad.status_code == 400 and "resolutions: expected" in bad.json()["error"]
        bad = operator.post(f"/deployments/{DEPLOYMENT}/problems", json={"auto": "yes"})
        assert bad.status_code == 400 and "auto: expected true or false" in bad.json()["error"]
