"""Several CPIs at once, end to end with real VMs: two real local CPIs (own roots, own name
prefixes, this run's bridge) named by a cpi-config, a cloud-config putting z1 on one and z2
on the other, and the director's own CPI holding a deployment made before the cpi-config.
Each CPI's own listing is the proof of which CPI made, and deleted, what."""

from __future__ import annotations

import json
import os

import pytest

from tests.cpi_configs import (
    SECRET,
    add_compiled_package,
    cleanup_cpi,
    cloud_config_on_cpis,
    cpi_listing,
    local_cpi_properties,
    two_local_cpis,
    write_yaml,
)
from tests.director.live_director import one_group_manifest, write_release
from tests.e2e.manifests import write
from tests.harness import LocalDirector, ensure_stemcell

pytestmark = [pytest.mark.vm, pytest.mark.slow]


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    stemcell = ensure_stemcell()
    root = tmp_path_factory.mktemp("cpi-config-vms")
    local = LocalDirector(root / "director")
    configs = [root / f"cpi-{letter}.json" for letter in "ab"]
    for config, letter in zip(configs, "ab"):
        config.write_text(json.dumps(local_cpi_properties(root, letter)))  # the CPIs' own, for list/cleanup
    try:
        local.start()
        local.cli("upload-stemcell", str(stemcell))
        local.update_cloud_config()
        release = write_release(root / "plain", "plain", {"idle": {"idle.conf": "idle\n"},
                                                          "marked": {"marked.conf": "marked\n"}})
        local.cli("upload-release", str(add_compiled_package(release, "marked")))
        local.stemcell = stemcell  # type: ignore[attr-defined]
        local.cpi_configs = configs  # type: ignore[attr-defined]
        yield local
    finally:
        try:
            for config in configs:
                cleanup_cpi(config)
        finally:
            local.stop()


def two_az_manifest(name: str) -> dict:
    manifest = one_group_manifest(name, "plain", ["marked"], instances=2)  # its package is compiled here
    manifest["instance_groups"][0].update(azs=["z1", "z2"], persistent_disk=64)
    return manifest


def vm_cids(listing: dict) -> set[str]:
    return {vm["cid"] for vm in listing["vms"]}


def test_one_deployment_across_two_cpis(director, tmp_path):
    own, cpi_a, cpi_b = director.cpi_config, *director.cpi_configs
    # made before any cpi-config: by the director's own CPI
    director.cli("deploy", "-n", write(tmp_path, one_group_manifest("before", "plain", ["idle"])))
    [before] = director.json("vms", "-d", "before")
    assert before["cpi"] == "default" and vm_cids(cpi_listing(own)) == {before["vm_cid"]}

    director.cli("update-cpi-config", str(write_yaml(tmp_path / "cpis.yml", two_local_cpis(director.root.parent))),
                 "-v", f"cpi_password={SECRET}")
    director.cli("update-cloud-config",
                 str(write_yaml(tmp_path / "cc.yml", cloud_config_on_cpis({"z1": "local-a", "z2": "local-b"}))))

    # the stemcell is only in the director's own CPI yet: refused before anything is made
    refused = director.cli("deploy", "-n", write(tmp_path, two_az_manifest("across")), check=False)
    assert refused.returncode == 1
    assert "CPI 'local-a' has no copy of stemcell" in " ".join((refused.stdout + refused.stderr).split())
    assert not cpi_listing(cpi_a)["vms"] and not cpi_listing(cpi_b)["vms"]
    assert "across" not in [d["name"] for d in director.json("deployments")]

    # uploading again puts a copy in each new CPI that takes its format, and only there
    director.cli("upload-stemcell", str(director.stemcell))
    rows = director.json("stemcells")
    assert sorted(r["cpi"] for r in rows) == ["default", "local-a", "local-b"]
    for config, name in ((cpi_a, "local-a"), (cpi_b, "local-b")):
        assert cpi_listing(config)["stemcells"] == [next(r["cid"] for r in rows if r["cpi"] == name)]
    table = director.cli("stemcells").stdout
    assert "CPI" in table and "local-a" in table and "local-b" in table

    director.cli("deploy", "-n", write(tmp_path, two_az_manifest("across")))
    [task] = director.json("tasks", "--recent", "1")
    debug = director.cli("task", str(task["id"]), "--debug").stdout
    assert "(compilation-1) through CPI 'local-a'" in debug  # compilation az z1
    assert SECRET not in debug  # local-a's properties hold it; no log does
    vms = {vm["az"]: vm for vm in director.json("vms", "-d", "across")}
    assert {az: vm["cpi"] for az, vm in vms.items()} == {"z1": "local-a", "z2": "local-b"}
    listing_a, listing_b = cpi_listing(cpi_a), cpi_listing(cpi_b)
    assert vm_cids(listing_a) == {vms["z1"]["vm_cid"]} and vm_cids(listing_b) == {vms["z2"]["vm_cid"]}
    assert vm_cids(cpi_listing(own)) == {before["vm_cid"]}
    assert len(listing_a["disks"]) == 1 and len(listing_b["disks"]) == 1  # each disk beside its VM
    cpis = {r["name"]: r for r in director.json("cpis")}
    assert (cpis["local-a"]["vms"], cpis["local-b"]["vms"], cpis["default"]["vms"]) == (1, 1, 1)

    # recreating (what the resurrector runs too) deletes the old VM through the CPI that made
    # it and makes the new one in the same CPI, with the same disk
    old = vms["z2"]
    director.cli("recreate", "-d", "across", "-n", f"web/{old['instance'].split('/')[1]}")
    [new] = [vm for vm in director.json("vms", "-d", "across") if vm["az"] == "z2"]
    assert new["vm_cid"] != old["vm_cid"] and new["cpi"] == "local-b"
    [vm_b] = cpi_listing(cpi_b)["vms"]
    assert vm_b["cid"] == new["vm_cid"] and vm_b["disks"] == listing_b["disks"]
    assert vm_cids(cpi_listing(cpi_a)) == {vms["z1"]["vm_cid"]}

    # a CPI holding VMs cannot leave the cpi-config: nothing could delete them afterwards
    only_a = two_local_cpis(director.root.parent)
    only_a["cpis"].pop()
    kept = director.cli("update-cpi-config", str(write_yaml(tmp_path / "only-a.yml", only_a)),
                        "-v", f"cpi_password={SECRET}", check=False)
    assert kept.returncode == 1
    assert "CPI 'local-b' still holds 1 VM(s), 1 persistent disk(s)" in " ".join(kept.stderr.split())
    assert SECRET not in kept.stdout + kept.stderr

    # each VM is deleted by its own CPI; each disk, once orphaned, too
    director.cli("delete-deployment", "-d", "across", "-n")
    assert not cpi_listing(cpi_a)["vms"] and not cpi_listing(cpi_b)["vms"]
    orphans = director.json("disks", "--orphaned")
    assert sorted(d["cpi"] for d in orphans) == ["local-a", "local-b"]
    for disk in orphans:
        director.cli("delete-disk", "-n", disk["disk_cid"])
    assert not cpi_listing(cpi_a)["disks"] and not cpi_listing(cpi_b)["disks"]

    # a stemcell in use stays; unused, each copy is deleted by the CPI holding it
    stemcell = f"{rows[0]['name']}/{rows[0]['version']}"
    in_use = director.cli("delete-stemcell", "-n", stemcell, check=False)
    assert in_use.returncode == 1 and "is used by deployment(s) before" in " ".join(in_use.stderr.split())
    assert len(director.json("stemcells")) == 3

    # the VM made before the cpi-config is still the director's own CPI's to delete
    director.cli("delete-deployment", "-d", "before", "-n")
    assert not cpi_listing(own)["vms"]
    director.cli("delete-stemcell", "-n", stemcell)
    assert director.json("stemcells") == []
    assert [cpi_listing(config)["stemcells"] for config in (own, cpi_a, cpi_b)] == [[], [], []]
