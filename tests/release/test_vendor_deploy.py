"""Releases that vendor one package, deployed together on real VMs (as the Cloud Foundry
releases vendor cf-platform): the package is compiled once, and every instance gets it.
Compiled once per release, each copy's cache record deleted the blob the previous copy's
instances had been given, and the deploy failed with "Downloading blob … 404"."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import BIN, director_with_stemcell

from .conftest import write

pytestmark = [pytest.mark.vm, pytest.mark.slow]
FINAL_YML = "blobstore:\n  provider: local\n  options: {blobstore_path: .final_blobstore}\n"
CONSUMERS = ("one", "two", "three")


def shared_release(root: Path) -> Path:
    rel = root / "shared"
    write(rel / "config/final.yml", f"name: shared\n{FINAL_YML}")
    write(rel / "src/greeting/greeting.txt", "hello from the vendored package\n")
    write(rel / "packages/greeting/spec", "name: greeting\nfiles: [greeting/greeting.txt]\n")
    write(rel / "packages/greeting/packaging", 'cp greeting/greeting.txt "$BOSH_INSTALL_TARGET/"\n')
    return rel


def consumer_release(root: Path, name: str, shared: Path) -> Path:
    rel = root / name
    write(rel / "config/final.yml", f"name: {name}\n{FINAL_YML}")
    write(rel / "jobs" / name / "spec", f"name: {name}\ntemplates: {{}}\npackages: [greeting]\n")
    write(rel / "jobs" / name / "monit", f"""processes:
- name: {name}
  executable: /bin/sh
  args: ["-c", "cp /var/vcap/packages/greeting/greeting.txt /var/vcap/data/{name}.txt && exec sleep 86400"]
""")
    vendored = subprocess.run([str(BIN / "bosh-py"), "vendor-package", "greeting", str(shared), "--dir", str(rel)],
                              check=False, capture_output=True, text=True, timeout=120)
    assert vendored.returncode == 0, vendored.stderr
    return rel


def manifest(path: Path) -> str:
    doc = {
        "name": "vendored",
        "releases": [{"name": n, "version": "latest"} for n in CONSUMERS],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 3, "canary_watch_time": "500-30000",
                   "update_watch_time": "500-30000"},
        "instance_groups": [{"name": n, "azs": ["z1"], "instances": 1, "vm_type": "default", "stemcell": "default",
                             "networks": [{"name": "default"}], "jobs": [{"name": n, "release": n}]}
                            for n in CONSUMERS],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_releases_vendoring_one_package_deploy_together(tmp_path):
    shared = shared_release(tmp_path)
    releases = [consumer_release(tmp_path, n, shared) for n in CONSUMERS]
    with director_with_stemcell(tmp_path / "director") as director:
        for rel in releases:
            director.cli("upload-release", str(rel))
        deployed = director.cli("deploy", "-n", manifest(tmp_path / "manifest.yml"))
        log = deployed.stdout + deployed.stderr
        assert len(re.findall(r"Compiling packages: greeting/", log)) == 1, log
        rows = director.json("instances", "-d", "vendored", "--ps")
        assert sorted(r["group"] for r in rows) == sorted(CONSUMERS)
        for row in rows:
            name = row["group"]
            out = director.cli("ssh", "-d", "vendored", f"{name}/{row['id']}", "-c", f"cat /var/vcap/data/{name}.txt")
            assert "hello from the vendored package" in out.stdout
