"""The log forwarder as operators use it: releases/syslog_forwarder placed on every VM of a
deployment by a runtime-config addon (deployments/runtime-config-syslog.yml), forwarding what the jobs log to a syslog receiver on
the VMs' bridge (an address of this test run's own network), tagged per instance."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.addons.test_syslog_forwarder import Receiver
from tests.director.live_director import one_group_manifest
from tests.e2e.manifests import write
from tests.harness import REPO, TEST_SUBNET, director_with_stemcell, free_port

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def ticking_release(root):  # type: ignore[no-untyped-def]
    """A release whose one job appends a line naming its instance group to its log every second."""
    job = root / "jobs/ticker"
    (job / "templates").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config/final.yml").write_text("name: ticker\n")
    (job / "spec").write_text(yaml.safe_dump({"name": "ticker", "templates": {"group.j2": "config/group"},
                                              "packages": [], "properties": {}}))
    (job / "templates/group.j2").write_text("{{ spec.name }}")
    (job / "monit").write_text(yaml.safe_dump({"processes": [{
        "name": "ticker", "executable": "/bin/sh",
        "args": ["-c", "while true; do echo \"tick from $(cat /var/vcap/jobs/ticker/config/group)\" "
                       ">> /var/vcap/sys/log/ticker/ticker.log; sleep 1; done"]}]}))
    return root


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    root = tmp_path_factory.mktemp("syslog-addon")
    with director_with_stemcell(root / "director") as local:
        local.cli("upload-release", str(ticking_release(root / "ticker")))
        local.cli("upload-release", str(REPO / "releases/syslog_forwarder"))
        yield local


def test_every_vm_forwards_its_job_logs_tagged_with_its_instance(director, tmp_path):
    port = free_port()
    receiver = None
    try:
        [release] = [r for r in director.json("releases") if r["name"] == "syslog_forwarder"]
        director.cli("update-runtime-config", str(REPO / "deployments/runtime-config-syslog.yml"),
                     "-v", f"syslog_forwarder_version={release['version']}",
                     "-v", f"syslog_address={TEST_SUBNET}.1", "-v", f"syslog_port={port}")
        manifest = one_group_manifest("logs", "ticker", ["ticker"])
        manifest["instance_groups"].append(dict(manifest["instance_groups"][0], name="api"))
        director.cli("deploy", "-n", write(tmp_path, manifest))
        ids = {row["group"]: row["id"] for row in director.json("instances", "-d", "logs")}
        # on the VMs' bridge, which exists once the first VM does; the forwarders keep retrying until then
        receiver = Receiver(port, host=f"{TEST_SUBNET}.1")

        receiver.wait_for_all(lambda ms: {g for g in ids if any(f"tick from {g}" in m for m in ms)} == set(ids),
                              timeout=60)
        for group, instance_id in ids.items():
            message = next(m for m in receiver.messages if f"tick from {group}" in m)
            assert re.search(rf' ticker - - \[instance@47450 deployment="logs" group="{group}" '
                             rf'id="{instance_id}" index="0" az="z1"\] tick from {group}$', message), message
        again = director.cli("deploy", "-n", write(tmp_path, manifest))
        assert "Updating instance" not in again.stdout  # the same runtime-config changes nothing
    finally:
        if receiver is not None:
            receiver.close()
