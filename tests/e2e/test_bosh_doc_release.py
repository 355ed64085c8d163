"""A release written only from BOSH's documentation (tests/fixtures/releases/kv-bosh: a
classic monit file, a bash ctl script, ERB templates using p/if_p/spec/link, a package
with a packaging script, data on the persistent disk), deployed through the CLI to
several namespace VMs: its links resolve (each instance lists its peers), the monit
process shows in ``instances --ps``, its data survives ``recreate``."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from tests.e2e.manifests import write
from tests.harness import REPO

pytestmark = pytest.mark.slow

PORT = 7480


def manifest() -> dict:
    return {
        "name": "kv-bosh",
        "releases": [{"name": "kv-bosh", "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 2, "canary_watch_time": "500-20000",
                   "update_watch_time": "500-20000"},
        "instance_groups": [{
            "name": "kv", "azs": ["z1", "z2", "z3"], "instances": 3, "vm_type": "default",
            "stemcell": "default", "persistent_disk_type": "small", "networks": [{"name": "default"}],
            "jobs": [{"name": "kv", "release": "kv-bosh",
                      "properties": {"kv": {"greeting": "hello from kv-bosh", "motd": "from the manifest"}}}],
        }],
    }


def http(ip: str, path: str, data: bytes | None = None) -> str:
    request = urllib.request.Request(f"http://{ip}:{PORT}{path}", data=data, method="PUT" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def deployed(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kv-bosh")
    release_dir = tmp / "kv-bosh"
    shutil.copytree(REPO / "tests/fixtures/releases/kv-bosh", release_dir)
    director.cli("upload-release", str(release_dir))
    director.cli("deploy", "-n", write(tmp, manifest()))
    yield tmp
    director.cli("delete-deployment", "-d", "kv-bosh", "-n", check=False)


def rows(director) -> list[dict]:
    return director.json("instances", "-d", "kv-bosh", "--ps")


def test_every_instance_runs_the_monit_process_and_sees_its_peers(director, deployed):
    instances = rows(director)
    assert len(instances) == 3 and {r["process_state"] for r in instances} == {"running"}
    for r in instances:  # the classic monit process, listed like any other
        assert [(p["name"], p["state"]) for p in r["processes"]] == [("kv", "running")], r
    addresses = sorted(r["ips"][0] for r in instances)
    infos = [json.loads(http(ip, "/info")) for ip in addresses]
    for ip, info in zip(addresses, infos):
        assert sorted(peer.split(":")[0] for peer in info["peers"]) == addresses  # link("kv")
        assert all(peer.endswith(f":{PORT}") for peer in info["peers"])  # link p("kv.port")
        assert info["instance"]["address"] == ip and info["instance"]["deployment"] == "kv-bosh"
        assert info["instance"]["name"] == "kv" and info["motd"] == "from the manifest"  # if_p
        assert info["data_owner"] == "vcap"  # pre-start chowned the store to the vcap user
        assert http(ip, "/") == "hello from kv-bosh\n"  # p()
    assert sorted(i["instance"]["index"] for i in infos) == [0, 1, 2]
    assert sorted(i["instance"]["az"] for i in infos) == ["z1", "z2", "z3"]
    assert [i["instance"]["bootstrap"] for i in infos].count(True) == 1


def test_persistent_data_survives_recreate(director, deployed):
    before = {r["id"]: r for r in rows(director)}
    for r in before.values():
        assert http(r["ips"][0], "/kv/owner", f"kv/{r['index']}".encode()) == "stored\n"
    director.cli("recreate", "-d", "kv-bosh", "-n")
    after = {r["id"]: r for r in rows(director)}
    assert set(after) == set(before)
    for instance_id, r in after.items():
        assert r["vm_cid"] != before[instance_id]["vm_cid"], "recreate made a new VM"
        assert r["disk_cids"] == before[instance_id]["disk_cids"]
        assert r["process_state"] == "running"
        assert http(r["ips"][0], "/kv/owner") == f"kv/{r['index']}"
