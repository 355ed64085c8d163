"""The foundation end to end, on real namespace VMs: upload, deploy, verify from outside over
SSH with testinfra, redeploy (no-op, then one property), instance actions, logs, ssh, delete."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest
import testinfra

from tests.e2e.manifests import web_manifest, write
from tests.harness import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployed(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    release_dir = tmp / "testrel"
    shutil.copytree(REPO / "tests/fixtures/releases/testrel", release_dir)
    director.cli("upload-release", str(release_dir))
    result = director.cli("deploy", "-n", write(tmp, web_manifest()))
    return {"tmp": tmp, "deploy_output": result.stdout}


def instances(director, name="web"):
    return director.json("instances", "-d", name, "--ps")


def host(director, instance: dict, tmp: Path):
    """A testinfra host over paramiko, pinned to the VM's host key, with the director's key."""
    # per VM cid: testinfra caches hosts by their arguments, and a recreated VM keeps its IP
    known = tmp / f"known_hosts_{instance['vm_cid']}"
    known.write_text(f"{instance['ips'][0]} {instance['host_public_key']}\n")
    config = tmp / f"ssh_config_{instance['vm_cid']}"
    config.write_text(f"Host {instance['ips'][0]}\n  User root\n  IdentityFile {director.data_dir}/ssh/id_ed25519\n"
                      f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n")
    vm = testinfra.get_host(f"paramiko://root@{instance['ips'][0]}", ssh_config=str(config))
    # testinfra's paramiko backend only warns on unknown keys: check the pin ourselves
    offered = vm.backend.client.get_transport().get_remote_server_key()
    assert f"{offered.get_name()} {offered.get_base64()}" == " ".join(instance["host_public_key"].split()[:2])
    return vm


def fetch(ip: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as response:
        return response.read().decode()


def test_fresh_deploy_runs_every_instance(director, deployed):
    rows = instances(director)
    assert len(rows) == 3
    assert {r["process_state"] for r in rows} == {"running"}
    assert len({r["ips"][0] for r in rows}) == 3
    assert {r["az"] for r in rows} == {"z1", "z2"}
    assert sum(1 for r in rows if r["bootstrap"]) == 1
    assert "Compiling packages: greeting/" in deployed["deploy_output"]
    assert "(canary)" in deployed["deploy_output"]


def test_vm_state_verified_from_outside(director, deployed):
    rows = instances(director)
    peers = sorted(r["ips"][0] for r in rows)
    for row in rows:
        vm = host(director, row, deployed["tmp"])
        assert vm.socket("tcp://0.0.0.0:8080").is_listening
        assert vm.process.filter(comm="python3", user="root")
        page = vm.file("/var/vcap/jobs/web/public/index.html").content_string
        assert f"hello from web/{row['index']} ({row['ips'][0]})" in page
        assert all(f"{ip}:8080" in page for ip in peers), "the link lists every web instance"
        assert vm.file("/var/vcap/packages/greeting/share/greeting.txt").content_string == "compiled greeting\n"
        assert vm.file("/var/vcap/sys/log/web/pre-start.log").content_string == "compiled greeting\n"
        assert vm.file("/var/vcap/sys/log/web/post-deploy.log").content_string == "deployed: hello\n"
        assert vm.mount_point("/var/vcap/store").exists
        assert vm.file("/var/vcap/bosh/settings.json").mode == 0o600
        assert "hello from web" in fetch(row["ips"][0])


def test_same_manifest_twice_changes_nothing(director, deployed):
    before = {r["id"]: r["vm_cid"] for r in instances(director)}
    result = director.cli("deploy", "-n", write(deployed["tmp"], web_manifest()))
    assert "No manifest changes" in result.stdout
    assert "No instances to update" in result.stdout
    assert "Updating instance" not in result.stdout
    assert {r["id"]: r["vm_cid"] for r in instances(director)} == before


def test_property_change_rolls_in_place(director, deployed):
    before = {r["id"]: r["vm_cid"] for r in instances(director)}
    result = director.cli("deploy", "-n", "--no-redact", write(deployed["tmp"], web_manifest(message="bonjour")))
    assert "-         message: hello" in result.stdout and "+         message: bonjour" in result.stdout
    assert result.stdout.count("Updating instance: web/") == 3
    assert result.stdout.index("(canary)") < result.stdout.rindex("Updating instance: web/")
    assert "Compiling packages" not in result.stdout, "compiled packages come from the cache"
    rows = instances(director)
    assert {r["id"]: r["vm_cid"] for r in rows} == before, "a property change keeps the VMs"
    assert all("bonjour from web" in fetch(r["ips"][0]) for r in rows)


def test_restart_stop_start(director, deployed):
    director.cli("stop", "-d", "web", "-n", "web/0")
    states = {r["index"]: r["process_state"] for r in instances(director)}
    assert states[0] == "stopped" and states[1] == "running"
    director.cli("start", "-d", "web", "web/0")
    director.cli("restart", "-d", "web", "web/1")
    assert {r["process_state"] for r in instances(director)} == {"running"}


def test_recreate_keeps_ip_and_disk(director, deployed):
    row = next(r for r in instances(director) if r["index"] == 0)
    vm = host(director, row, deployed["tmp"])
    vm.run_test("echo kept > /var/vcap/store/marker")
    director.cli("recreate", "-d", "web", "-n", "web/0")
    after = next(r for r in instances(director) if r["index"] == 0)
    assert after["vm_cid"] != row["vm_cid"]
    assert after["ips"] == row["ips"] and after["disk_cids"] == row["disk_cids"]
    assert after["process_state"] == "running"
    assert host(director, after, deployed["tmp"]).file("/var/vcap/store/marker").content_string == "kept\n"


def test_logs_and_ssh(director, deployed, tmp_path):
    director.cli("logs", "-d", "web", "web/0", "--dir", str(tmp_path))
    [tarball] = list(tmp_path.glob("*.tgz"))
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert any(name.endswith("web/pre-start.log") for name in names)
    result = director.cli("ssh", "-d", "web", "web/1", "-c", "hostname; cat /var/vcap/bosh/spec.json")
    hostname, _, spec_text = result.stdout.partition("\n")
    spec = json.loads(spec_text)
    assert hostname == next(r for r in instances(director) if r["index"] == 1)["vm_cid"]
    assert spec["name"] == "web" and spec["index"] == 1


def test_tasks_events_and_locks_are_listed(director, deployed):
    tasks = director.json("tasks", "-r", "50")
    assert any(t["description"].startswith("create deployment") and t["state"] == "done" for t in tasks)
    task_id = str(tasks[0]["id"])
    assert director.cli("task", task_id, "--debug").stdout.strip()
    assert director.json("locks") == []
    assert any(e["object_type"] == "deployment" for e in director.json("events"))
    assert director.json("deployments")[0]["name"] == "web"
    assert director.json("vms", "-d", "web")
    assert director.json("releases")[0]["name"] == "testrel"


def test_delete_deployment_leaves_nothing(director, deployed):
    cids = {r["vm_cid"] for r in instances(director)}
    disks = {d for r in instances(director) for d in r["disk_cids"]}
    director.cli("delete-deployment", "-d", "web", "-n")
    # persistent disks are orphaned, never deleted with the deployment (tests/e2e/test_never_harm.py) ...
    assert disks and disks <= set(json.loads(director.cpi("list", "--json").stdout)["disks"])
    assert disks <= {d["disk_cid"] for d in director.json("disks", "--orphaned")}
    for disk in disks:  # ... until the operator deletes them
        director.cli("delete-disk", disk, "-n")
    listing = json.loads(director.cpi("list", "--json").stdout)
    assert listing["vms"] == [] and not disks & set(listing["disks"])
    assert director.json("deployments") == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(cid in netns for cid in cids)
