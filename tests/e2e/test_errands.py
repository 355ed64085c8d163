"""Errands on real namespace VMs, through the CLI as an operator runs them: a lifecycle
errand group gets no VM on deploy and VMs only while `run-errand` runs (or after, with
--keep-alive); a colocated errand runs in place; exit codes, output, --instance, logs,
the lock, and nothing left behind when an errand fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time

import httpx
import pytest

from tests.e2e.manifests import write
from tests.harness import BIN, REPO, wait_until

pytestmark = pytest.mark.slow


def errand_manifest(check_exit: int = 0, smoke_exit: int = 0, smoke_sleep: int = 0) -> dict:
    common = {"azs": ["z1"], "vm_type": "default", "stemcell": "default", "networks": [{"name": "default"}]}
    return {
        "name": "errands",
        "releases": [{"name": "errandrel", "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 2, "canary_watch_time": "500-10000",
                   "update_watch_time": "500-10000"},
        "instance_groups": [
            {"name": "smoke-tests", "lifecycle": "errand", "instances": 1, **common,  # listed first on purpose
             "jobs": [{"name": "smoke", "release": "errandrel", "properties": {"smoke": {"exit_code": smoke_exit, "sleep": smoke_sleep}}}]},
            {"name": "svc", "instances": 2, **common,
             "jobs": [{"name": "server", "release": "errandrel"},
                      {"name": "check", "release": "errandrel", "properties": {"check": {"exit_code": check_exit}}}]},
        ],
    }


@pytest.fixture(scope="module")
def deployed(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errands")
    release_dir = tmp / "errandrel"
    shutil.copytree(REPO / "tests/fixtures/releases/errandrel", release_dir)
    director.cli("upload-release", str(release_dir))
    director.cli("deploy", "-n", write(tmp, errand_manifest()))
    return tmp


def instances(director) -> list[dict]:
    return director.json("instances", "-d", "errands")


def cpi_vms(director) -> set[str]:
    """VM cids the local CPI holds, from its own state (not the director's word)."""
    root = director.root / "cpi" / "vms"
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def redeploy(director, tmp, **exits: int) -> None:
    director.cli("deploy", "-n", write(tmp, errand_manifest(**exits)))


def test_deploy_gives_the_errand_group_no_vm(director, deployed):
    rows = instances(director)
    assert sorted(r["group"] for r in rows) == ["svc", "svc"]
    assert director.json("errands", "-d", "errands") == [{"name": "check"}, {"name": "smoke"},
                                                         {"name": "smoke-tests"}]


def test_lifecycle_errand_runs_on_a_fresh_vm_which_is_then_deleted(director, deployed):
    before = cpi_vms(director)
    result = director.cli("run-errand", "-d", "errands", "smoke-tests")
    assert "smoke on smoke-tests/0: probe compiled" in result.stdout  # its package was compiled and installed
    assert "smoke says goodbye" in result.stdout and "Exit Code  0" in result.stdout
    assert "Errand 'smoke-tests' completed successfully (1 run(s))" in result.stdout
    assert sorted(r["group"] for r in instances(director)) == ["svc", "svc"]
    assert cpi_vms(director) == before, "the errand VM is gone"
    svc_ips = {r["ips"][0] for r in instances(director)}
    assert len(svc_ips) == 2


def test_colocated_errand_runs_in_place_on_each_instance(director, deployed):
    result = director.cli("run-errand", "-d", "errands", "check")
    assert result.stdout.count("Exit Code  0") == 2
    for row in instances(director):
        assert f"check on svc/{row['index']} ({row['ips'][0]})" in result.stdout
    assert "check stderr line" in result.stdout
    only = director.cli("run-errand", "-d", "errands", "check", "--instance", "svc/1")
    assert "check on svc/1" in only.stdout and "check on svc/0" not in only.stdout
    assert {r["process_state"] for r in instances(director)} == {"running"}, "service jobs untouched"


def test_bad_names_and_selectors_are_refused_with_the_errand_list(director, deployed):
    result = director.cli("run-errand", "-d", "errands", "svc", check=False)
    assert result.returncode == 1
    assert "Instance group 'svc' is not an errand" in result.stderr and "check, smoke, smoke-tests" in result.stderr
    result = director.cli("run-errand", "-d", "errands", "server", check=False)
    assert result.returncode == 1 and "Job 'server' has no bin/run" in result.stderr
    result = director.cli("run-errand", "-d", "errands", "check", "--instance", "svc/9", check=False)
    assert result.returncode == 1 and "--instance 'svc/9': no instance of errand 'check' matches" in result.stderr


def test_a_failing_colocated_errand_exits_non_zero_naming_instance_and_code(director, deployed):
    redeploy(director, deployed, check_exit=3)
    try:
        result = director.cli("run-errand", "-d", "errands", "check", "--instance", "svc/0", check=False)
        assert result.returncode == 1
        row = next(r for r in instances(director) if r["index"] == 0)
        assert f"Errand 'check' completed with error: svc/{row['id']} (0) job check: exit code 3" in result.stderr
        assert "Exit Code  3" in result.stdout and "check stderr line" in result.stdout
        task = director.json("tasks", "-d", "errands", "--recent", "1")[0]
        assert task["description"] == "run errand check" and task["state"] == "done"
    finally:
        redeploy(director, deployed)


def test_a_failing_lifecycle_errand_leaves_nothing_behind(director, deployed):
    redeploy(director, deployed, smoke_exit=7)
    try:
        before = cpi_vms(director)
        result = director.cli("run-errand", "-d", "errands", "smoke", check=False)
        assert result.returncode == 1
        assert "job smoke: exit code 7" in result.stderr
        assert "smoke on smoke-tests/0: probe compiled" in result.stdout
        assert cpi_vms(director) == before and len(instances(director)) == 2
        assert director.json("locks") == [], "the deployment lock is released"
    finally:
        redeploy(director, deployed)


def test_keep_alive_keeps_the_vm_and_the_next_run_reuses_it(director, deployed, tmp_path):
    before = cpi_vms(director)
    director.cli("run-errand", "-d", "errands", "smoke-tests", "--keep-alive")
    kept = [r for r in instances(director) if r["group"] == "smoke-tests"]
    assert len(kept) == 1 and kept[0]["vm_cid"] in cpi_vms(director) - before
    result = director.cli("run-errand", "-d", "errands", "smoke-tests", "--keep-alive", "--download-logs",
                          "--logs-dir", str(tmp_path))
    assert "Creating errand vms" in result.stdout
    again = [r for r in instances(director) if r["group"] == "smoke-tests"]
    assert again[0]["vm_cid"] == kept[0]["vm_cid"], "the kept VM was reused"
    (tarball,) = tmp_path.glob("errands.smoke-tests.*.smoke-*.tgz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"smoke/errand.stdout.log", "smoke/errand.stderr.log", "smoke/extra.log"} <= names
    assert not any(n.startswith("server/") for n in names)
    # a run without --keep-alive deletes it; so does a deploy (tested through the run here)
    director.cli("run-errand", "-d", "errands", "smoke-tests")
    assert [r for r in instances(director) if r["group"] == "smoke-tests"] == []
    assert cpi_vms(director) == before


def test_errand_logs_are_served_once_and_no_other_blob_is(director, deployed, tmp_path):
    result = director.cli("run-errand", "-d", "errands", "check", "--instance", "svc/0", "--download-logs",
                          "--logs-dir", str(tmp_path), "--json")
    assert len(list(tmp_path.glob("*.tgz"))) == 1
    blob_id = next(line.split("'")[1] for line in result.stdout.splitlines() if "Downloading resource" in line)
    config = json.loads((director.root / "cli.json").read_text())
    with httpx.Client(base_url=config["url"], auth=(config["user"], config["password"])) as api:
        assert api.get(f"/errand_logs/{blob_id}").status_code == 404, "deleted once downloaded"
        applied = api.get("/deployments/errands/instances").json()[0]
        assert applied["vm_cid"]
        for other in ("0" * 32, "../director.json"):
            assert api.get(f"/errand_logs/{other}").status_code == 404
        assert api.post("/deployments/errands/errands/check/runs",
                        json={"instances": "svc/0"}).status_code == 400
        assert api.post("/deployments/errands/errands/check/runs",
                        json={"timeout": -5}).status_code == 400
        assert api.get("/deployments/errands/errands", auth=("admin", "wrong")).status_code == 401


def api(director) -> httpx.Client:
    config = json.loads((director.root / "cli.json").read_text())
    return httpx.Client(base_url=config["url"], auth=(config["user"], config["password"]))


def test_cancelling_a_running_errand_deletes_its_vm_and_releases_the_lock(director, deployed):
    redeploy(director, deployed, smoke_sleep=600)
    before = cpi_vms(director)
    cli = subprocess.Popen([str(BIN / "bosh-py"), "run-errand", "-d", "errands", "smoke-tests"], env=director.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with api(director) as client:
            def running_task():
                tasks = client.get("/tasks", params={"deployment": "errands", "limit": 1}).json()
                task = tasks[0] if tasks and tasks[0]["description"] == "run errand smoke-tests" else None
                if task and "Running errand" in client.get(f"/tasks/{task['id']}/output",
                                                           params={"type": "event"}).text:
                    return task
                return None
            task = wait_until(running_task, timeout=300, interval=0.5)
            time.sleep(1)  # bin/run is sleeping on the VM now
            assert client.delete(f"/tasks/{task['id']}").json() == {"cancelled": True}
            wait_until(lambda: client.get(f"/tasks/{task['id']}").json()["state"] == "cancelled", timeout=120)
        out, err = cli.communicate(timeout=60)
        assert cli.returncode == 1 and "cancelled" in err
        assert [r for r in instances(director) if r["group"] == "smoke-tests"] == []
        assert cpi_vms(director) == before
        assert director.json("locks") == []
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        redeploy(director, deployed)
