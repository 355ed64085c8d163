"""Addon placement and runtime-config merging: pure, on small documents."""

from __future__ import annotations

import copy

import pytest

from bosh_py.manifest import ManifestError, interpolate, parse_deployment
from bosh_py.manifest.addons import NamedRuntimeConfig, merge_runtime_configs, parse_runtime_config, place_addons

BASE = {
    "name": "alpha",
    "releases": [{"name": "app", "version": "1"}],
    "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"},
                  {"alias": "other", "os": "ubuntu-jammy", "version": "latest"}],
    "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": 1000, "update_watch_time": 1000},
    "instance_groups": [
        {"name": "web", "azs": ["z1"], "instances": 1, "vm_type": "small", "stemcell": "default",
         "networks": [{"name": "public"}], "jobs": [{"name": "web", "release": "app"}]},
        {"name": "worker", "azs": ["z2"], "instances": 1, "vm_type": "small", "stemcell": "other",
         "networks": [{"name": "private"}], "jobs": [{"name": "worker", "release": "app"}]},
        {"name": "migrate", "azs": ["z1"], "instances": 1, "vm_type": "small", "stemcell": "default",
         "lifecycle": "errand", "networks": [{"name": "private"}], "jobs": [{"name": "migrate", "release": "app"}]},
    ],
}


def runtime(addon: dict, name: str = "default", **extra) -> NamedRuntimeConfig:
    doc = {"releases": [{"name": "fwd", "version": "3"}],
           "addons": [{"name": "forwarder", "jobs": [{"name": "forwarder", "release": "fwd",
                                                     "properties": {"target": "127.0.0.1"}}], **addon}]}
    doc.update(extra)
    return NamedRuntimeConfig(name, doc)


def groups_with_addon(manifest: dict, configs: list[NamedRuntimeConfig], job: str = "forwarder") -> list[str]:
    merged = merge_runtime_configs(manifest, configs)
    placed = place_addons(merged, parse_deployment(merged, "manifest"))
    return [g["name"] for g in placed["instance_groups"] if any(j["name"] == job for j in g["jobs"])]


@pytest.mark.parametrize(("rules", "expected"), [
    ({}, ["web", "worker", "migrate"]),
    ({"include": {"deployments": ["alpha"]}}, ["web", "worker", "migrate"]),
    ({"include": {"deployments": ["beta"]}}, []),
    ({"include": {"instance_groups": ["worker"]}}, ["worker"]),
    ({"include": {"jobs": [{"name": "web", "release": "app"}]}}, ["web"]),
    ({"include": {"jobs": [{"name": "web", "release": "elsewhere"}]}}, []),
    ({"include": {"stemcell": [{"os": "ubuntu-jammy"}]}}, ["worker"]),
    ({"include": {"azs": ["z1"]}}, ["web", "migrate"]),
    ({"include": {"networks": ["private"]}}, ["worker", "migrate"]),
    ({"include": {"lifecycle": "service"}}, ["web", "worker"]),
    # every key given must match (AND), any value of one key may (OR)
    ({"include": {"azs": ["z1"], "networks": ["private"]}}, ["migrate"]),
    ({"include": {"instance_groups": ["web", "worker"]}}, ["web", "worker"]),
    ({"exclude": {"lifecycle": "errand"}}, ["web", "worker"]),
    ({"exclude": {"deployments": ["alpha"]}}, []),
    ({"exclude": {"azs": ["z1"], "networks": ["private"]}}, ["web", "worker"]),
    ({"include": {"azs": ["z1"]}, "exclude": {"jobs": [{"name": "migrate", "release": "app"}]}}, ["web"]),
])
def test_runtime_addons_land_where_their_rules_say(rules, expected):
    assert groups_with_addon(BASE, [runtime(rules)]) == expected


def test_the_addon_job_brings_its_release_and_properties():
    merged = merge_runtime_configs(BASE, [runtime({"include": {"instance_groups": ["web"]}})])
    placed = place_addons(merged, parse_deployment(merged, "manifest"))
    assert {"name": "fwd", "version": "3"} in placed["releases"]
    web = placed["instance_groups"][0]
    assert web["jobs"][-1] == {"name": "forwarder", "release": "fwd", "properties": {"target": "127.0.0.1"}}
    assert BASE["instance_groups"][0]["jobs"] == [{"name": "web", "release": "app"}]  # input untouched


def test_a_deployments_own_addons_are_placed_too_but_may_not_filter_by_deployment():
    manifest = copy.deepcopy(BASE)
    manifest["releases"].append({"name": "fwd", "version": "3"})
    manifest["addons"] = [{"name": "local", "jobs": [{"name": "forwarder", "release": "fwd"}],
                           "include": {"stemcell": [{"os": "debian-bookworm"}]}}]
    assert groups_with_addon(manifest, []) == ["web", "migrate"]
    manifest["addons"][0]["include"] = {"deployments": ["alpha"]}
    with pytest.raises(ManifestError, match=r"addons/0/include/deployments: a deployment's own addons cannot"):
        merge_runtime_configs(manifest, [])


def test_an_addon_job_already_in_the_group_is_an_error_naming_both():
    config = runtime({"include": {"instance_groups": ["web"]}})
    config.doc["addons"][0]["jobs"][0].update(name="web", release="fwd")
    with pytest.raises(ManifestError, match=r"instance_groups/web/jobs: addon 'forwarder' adds job 'web', "
                                            r"which the instance group already has"):
        groups_with_addon(BASE, [config])


def test_a_release_version_the_manifest_pins_differently_is_refused():
    manifest = copy.deepcopy(BASE)
    manifest["releases"].append({"name": "fwd", "version": "2"})
    with pytest.raises(ManifestError, match=r"runtime-config 'default': releases/0: 'fwd' differs"):
        merge_runtime_configs(manifest, [runtime({})])
    manifest["releases"][-1]["version"] = "3"  # the same version is fine, and listed once
    merged = merge_runtime_configs(manifest, [runtime({})])
    assert [r["name"] for r in merged["releases"]] == ["app", "fwd"]


def test_runtime_variables_are_generated_in_the_deployment_and_fill_addon_properties():
    config = runtime({}, variables=[{"name": "fwd_token", "type": "password"}])
    config.doc["addons"][0]["jobs"][0]["properties"] = {"token": "((fwd_token))"}
    merged = merge_runtime_configs(BASE, [config])
    assert merged["variables"] == [{"name": "fwd_token", "type": "password"}]
    filled, _ = interpolate(merged, {"fwd_token": "s3cret"}, "manifest")
    placed = place_addons(filled, parse_deployment(filled, "manifest"))
    assert placed["instance_groups"][1]["jobs"][-1]["properties"] == {"token": "s3cret"}


def test_two_runtime_configs_both_apply_in_name_order():
    second = NamedRuntimeConfig("zz", {"releases": [{"name": "fwd", "version": "3"}],
                                       "addons": [{"name": "banner", "jobs": [{"name": "banner", "release": "fwd"}],
                                                   "include": {"instance_groups": ["worker"]}}]})
    merged = merge_runtime_configs(BASE, [runtime({"include": {"instance_groups": ["web"]}}), second])
    placed = place_addons(merged, parse_deployment(merged, "manifest"))
    assert [[j["name"] for j in g["jobs"]] for g in placed["instance_groups"]] == [
        ["web", "forwarder"], ["worker", "banner"], ["migrate"]]


@pytest.mark.parametrize(("doc", "message"), [
    ({"releases": [{"name": "fwd", "version": "latest"}]},
     r"releases/fwd/version: a runtime-config names an exact version, not 'latest'"),
    ({"releases": [], "addons": [{"name": "a", "jobs": [{"name": "j", "release": "nowhere"}]}]},
     r"addons/a/jobs/0/release: release 'nowhere' is not in this runtime-config's releases"),
    ({"addons": [{"name": "a", "jobs": [], "include": {"teams": ["x"]}}]}, r"addons/a/include: unknown key 'teams'"),
    ({"addons": [{"name": "a", "jobs": [], "include": {"lifecycle": "batch"}}]}, r"addons/a/include/lifecycle"),
    ({"addons": [{"name": "a", "jobs": []}, {"name": "a", "jobs": []}]}, r"addons/1/name: duplicate name 'a'"),
    ({"adons": []}, r"adons"),
])
def test_a_bad_runtime_config_is_refused_with_the_path(doc, message):
    with pytest.raises(ManifestError, match=message) as failure:
        parse_runtime_config(doc, "runtime-config 'default'")
    assert "runtime-config 'default'" in str(failure.value)
