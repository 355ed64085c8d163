"""A bpm job deployed through the CLI: tests/fixtures/releases/kv-bpm (bpm.yml.erb, a
monit file calling /var/vcap/jobs/bpm/bin/bpm) with releases/bpm colocated, on VMs with
cgroups. Isolation is proven from inside the process (its /probe): it runs as vcap, its
PID namespace holds only bpm's init and itself, it cannot see the neighbour job's data or
store, writes outside its volumes fail; a memory hog is killed by its limit and restarted
by the agent; its persistent data survives recreate; each instance lists its peers from the
kv link."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.manifests import write
from tests.harness import REPO, wait_until

pytestmark = pytest.mark.slow

PORT = 7481


def manifest() -> dict:
    return {
        "name": "kv-bpm",
        "releases": [{"name": "kv-bpm", "version": "latest"}, {"name": "bpm", "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 2, "canary_watch_time": "500-20000",
                   "update_watch_time": "500-20000"},
        "instance_groups": [{
            "name": "kv", "azs": ["z1", "z2"], "instances": 2, "vm_type": "dea",  # cgroups: true
            "stemcell": "default", "persistent_disk_type": "small", "networks": [{"name": "default"}],
            "jobs": [{"name": "bpm", "release": "bpm"},
                     {"name": "kv", "release": "kv-bpm",
                      "properties": {"kv": {"greeting": "hello from bpm", "memory_limit": "64M"}}},
                     {"name": "neighbour", "release": "kv-bpm"}],
        }],
    }


def http(ip: str, path: str, data: bytes | None = None, timeout: float = 5) -> str:
    request = urllib.request.Request(f"http://{ip}:{PORT}{path}", data=data, method="PUT" if data else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


def probe(ip: str) -> dict | None:
    try:
        return json.loads(http(ip, "/probe"))
    except (OSError, urllib.error.URLError):
        return None


@pytest.fixture(scope="module")
def deployed(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kv-bpm")
    for name, source in (("kv-bpm", REPO / "tests/fixtures/releases/kv-bpm"), ("bpm", REPO / "releases/bpm")):
        shutil.copytree(source, tmp / name, ignore=shutil.ignore_patterns("dev_releases", ".dev_builds"))
        director.cli("upload-release", str(tmp / name))
    director.cli("deploy", "-n", write(tmp, manifest()))
    yield tmp
    director.cli("delete-deployment", "-d", "kv-bpm", "-n", check=False)


def rows(director) -> list[dict]:
    return director.json("instances", "-d", "kv-bpm", "--ps")


def test_the_bpm_process_runs_isolated(director, deployed):
    instances = rows(director)
    assert len(instances) == 2 and {r["process_state"] for r in instances} == {"running"}
    peers = sorted(f"{r['ips'][0]}:{PORT}" for r in instances)
    for r in instances:
        assert sorted(json.loads(http(r["ips"][0], "/peers"))) == peers  # the kv link, through ERB
        assert ("kv", "running") in [(p["name"], p["state"]) for p in r["processes"]], r
        ip = r["ips"][0]
        assert http(ip, "/") == "hello from bpm\n"  # env from bpm.yml, rendered by ERB
        seen = probe(ip)
        assert seen is not None
        assert seen["uid"] != 0 and seen["hostname"] == "kv"
        assert seen["pids"] == [1, seen["pid"]]  # bpm's init and the server; no agent, no sshd
        visible = seen["visible"]
        assert not visible["/var/vcap/data/neighbour"] and not visible["/var/vcap/store/neighbour"]
        assert not visible["/var/vcap/jobs/neighbour"] and not visible["/var/vcap/jobs/bpm"]
        assert not visible["/var/vcap/bosh"]
        assert visible["/var/vcap/data/kv-shared"] and visible["/var/vcap/store/kv"]
        write = seen["write"]
        for path in ("/probe", "/usr/probe", "/var/vcap/jobs/kv/probe", "/var/vcap/packages/kv-server/probe"):
            assert write[path] == "errno 30", (path, write)  # read-only file system
        for path in ("/var/vcap/data/kv/probe", "/var/vcap/data/kv-shared/probe", "/var/vcap/store/kv/.probe"):
            assert write[path] == "written", (path, write)


def on_vm(director, instance: dict, command: str) -> str:
    return director.cli("ssh", "-d", "kv-bpm", f"kv/{instance['id']}", "-c", command).stdout


def test_a_memory_hog_is_killed_and_restarted(director, deployed):
    instance = rows(director)[0]
    ip = instance["ips"][0]
    group = "/sys/fs/cgroup/memory/bpm-kv-kv"
    assert on_vm(director, instance, f"cat {group}/memory.limit_in_bytes").strip() == str(64 << 20)
    assert "kv/kv\trunning" in on_vm(director, instance, "/var/vcap/jobs/bpm/bin/bpm list")
    before = probe(ip)
    assert before is not None
    with pytest.raises((OSError, urllib.error.URLError)):
        http(ip, "/hog", timeout=30)  # the OOM killer ends the process mid-request
    after = wait_until(lambda: (seen := probe(ip)) and seen["started"] != before["started"] and seen,
                       timeout=60, interval=0.5, message="kv restarted after its OOM kill")
    assert after["pids"] == [1, after["pid"]]
    oom = dict(line.split() for line in on_vm(director, instance, f"cat {group}/memory.oom_control").splitlines()
               if len(line.split()) == 2)
    assert int(oom["oom_kill"]) >= 1  # the kernel's OOM killer, not some other failure
    wait_until(lambda: {r["process_state"] for r in rows(director)} == {"running"}, timeout=60, interval=1,
               message="instances running again")


def test_persistent_data_survives_recreate(director, deployed):
    before = {r["id"]: r for r in rows(director)}
    for r in before.values():
        assert http(r["ips"][0], "/kv/owner", f"kv/{r['index']}".encode()) == "stored\n"
    director.cli("recreate", "-d", "kv-bpm", "-n")
    after = {r["id"]: r for r in rows(director)}
    assert set(after) == set(before)
    for instance_id, r in after.items():
        assert r["vm_cid"] != before[instance_id]["vm_cid"], "recreate made a new VM"
        assert r["process_state"] == "running"
        deadline = time.monotonic() + 30
        while probe(r["ips"][0]) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert http(r["ips"][0], "/kv/owner") == f"kv/{r['index']}"
