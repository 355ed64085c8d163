"""The haproxy job on a real namespace VM, deployed by a real director: haproxy_ctl starts
Debian's haproxy as vcap with CAP_NET_BIND_SERVICE only and it answers on port 80;
`haproxy_ctl reload`, run by an operator over `bosh-py ssh` (from root's home directory),
keeps the master and swaps the worker; `bosh-py stop` leaves no haproxy process and
`bosh-py start` brings it back. No router is deployed: the pool's one address is a VM address
nothing listens on, so haproxy answers 503 itself, which is what proves it serves."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
import yaml

from tests.harness import REPO, TEST_SUBNET, director_with_stemcell

pytestmark = [pytest.mark.slow, pytest.mark.vm]

MANIFEST = {
    "name": "front-door",
    "releases": [{"name": "haproxy", "version": "latest"}],
    "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
    "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": "1000-30000",
               "update_watch_time": "1000-30000"},
    "instance_groups": [{
        "name": "haproxy", "azs": ["z1"], "instances": 1, "vm_type": "default", "stemcell": "default",
        "networks": [{"name": "default"}],
        "jobs": [{"name": "haproxy", "release": "haproxy",
                  "properties": {"ha_proxy": {"backend_servers": [f"{TEST_SUBNET}.250"]}}}]}],
}


def status_of(ip: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{ip}/", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_haproxy_job_on_a_vm(tmp_path):
    manifest = tmp_path / "front-door.yml"
    manifest.write_text(yaml.safe_dump(MANIFEST))
    with director_with_stemcell(tmp_path / "director") as director:
        director.cli("upload-release", str(REPO / "releases" / "haproxy"))
        director.cli("deploy", "-n", str(manifest))
        (row,) = director.json("instances", "-d", "front-door", "--ps")
        assert row["process_state"] == "running", row
        ip, target = row["ips"][0], f"haproxy/{row['id']}"

        def ssh(command: str) -> str:
            return director.cli("ssh", "-d", "front-door", target, "-c", command).stdout

        assert status_of(ip) == 503  # haproxy itself: no router up behind it
        master = ssh("cat /var/vcap/sys/run/haproxy/haproxy.pid").strip()
        status = ssh(f"ps -o user= -p {master}; grep -E '^Cap(Eff|Bnd|Amb)' /proc/{master}/status")
        assert status.split()[0] == "vcap", status
        assert re.findall(r"Cap(?:Eff|Bnd|Amb):\s+(\w+)", status) == ["0000000000000400"] * 3, status  # net_bind_service

        workers = ssh(f"cat /proc/{master}/task/{master}/children").split()
        assert len(workers) == 1
        ssh("cd /root && /var/vcap/jobs/haproxy/bin/haproxy_ctl reload")
        assert ssh("cat /var/vcap/sys/run/haproxy/haproxy.pid").strip() == master
        new_workers = ssh(f"sleep 1; cat /proc/{master}/task/{master}/children").split()
        assert new_workers and new_workers != workers, (workers, new_workers)
        assert status_of(ip) == 503

        director.cli("stop", "-d", "front-door", "-n")
        assert "haproxy" not in ssh("ps -eo comm="), "nothing of haproxy after stop"
        assert "soft stop" in ssh("cat /var/vcap/sys/log/haproxy/haproxy_ctl.log")
        director.cli("start", "-d", "front-door", "-n")
        assert status_of(ip) == 503
        director.cli("delete-deployment", "-d", "front-door", "-n")
