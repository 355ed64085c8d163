"""Change detection as a named set: which names, and which of them recreate the VM."""

import pytest

from bosh_py.director.changes import (VM_SPEC_KEY, ChangeOptions, CurrentInstance, PlannedInstance, describe,
                                      instance_changes, needs_vm, vm_spec)
from bosh_py.director.planner import vm_digest

NETS = {"default": {"type": "manual", "ip": "10.0.0.10"}}
VM = ("sc-1", {"memory": 256}, NETS, {"bosh": {}}, "default")
SPEC = {"name": "web", "index": 0, "az": "z1", "bootstrap": True, "networks": NETS,
        "job": {"name": "web", "templates": [{"name": "web", "version": "v1"}]},
        "packages": {"ruby": {"sha1": "a"}}, "configuration_hash": "c1", "persistent_disk": 0}


def planned(vm=VM, **spec_changes) -> PlannedInstance:
    stemcell, cloud, nets, env, cpi = vm
    return PlannedInstance(vm_spec(*vm), vm_digest(stemcell, cloud, nets, env, cpi), {**SPEC, **spec_changes})


def current(vm=VM, recorded=True, **spec_changes) -> CurrentInstance:
    stemcell, cloud, nets, env, cpi = vm
    applied = {**SPEC, **spec_changes, "rendered_templates_archive": {"blobstore_id": "b"}}
    if recorded:
        applied[VM_SPEC_KEY] = vm_spec(*vm)
    return CurrentInstance(True, vm_digest(stemcell, cloud, nets, env, cpi), applied)


OTHER_NETS = {"default": {"type": "manual", "ip": "10.0.0.11"}}

CASES = [
    # (case, current, planned, options, expected names, recreates the VM)
    ("nothing changed", current(), planned(), ChangeOptions(), set(), False),
    ("no row", None, planned(), ChangeOptions(), {"new"}, True),
    ("row without a vm", CurrentInstance(False, None, {}), planned(), ChangeOptions(), {"new"}, True),
    ("--recreate only", current(), planned(), ChangeOptions(recreate=True), {"recreate"}, True),
    ("--fix, agent silent", current(), planned(), ChangeOptions(unresponsive_agent=True),
     {"unresponsive_agent"}, True),
    ("stemcell", current(), planned(vm=("sc-2", *VM[1:])), ChangeOptions(), {"stemcell"}, True),
    ("vm_type", current(), planned(vm=(VM[0], {"memory": 512}, *VM[2:])), ChangeOptions(),
     {"cloud_properties"}, True),
    ("env", current(), planned(vm=(*VM[:3], {"bosh": {"x": 1}}, VM[4])), ChangeOptions(), {"env"}, True),
    ("cpi", current(), planned(vm=(*VM[:4], "aws")), ChangeOptions(), {"cpi"}, True),
    ("network", current(), planned(vm=(VM[0], VM[1], OTHER_NETS, *VM[3:]), networks=OTHER_NETS),
     ChangeOptions(), {"network"}, True),
    ("properties", current(), planned(configuration_hash="c2"), ChangeOptions(), {"configuration"}, False),
    ("job version", current(), planned(job={"name": "web", "templates": [{"name": "web", "version": "v2"}]}),
     ChangeOptions(), {"jobs"}, False),
    ("package and properties", current(), planned(packages={"ruby": {"sha1": "b"}}, configuration_hash="c2"),
     ChangeOptions(), {"packages", "configuration"}, False),
    ("persistent disk", current(), planned(persistent_disk=1024), ChangeOptions(), {"persistent_disk"}, False),
    ("bootstrap moved", current(), planned(bootstrap=False), ChangeOptions(), {"bootstrap"}, False),
    ("apply never happened", CurrentInstance(True, planned().vm_digest, {VM_SPEC_KEY: vm_spec(*VM)}), planned(),
     ChangeOptions(), {"unapplied"}, False),
    # rows made before the VM facts were recorded: vm_spec_digest decides, networks name themselves
    ("old row, same vm", current(recorded=False), planned(), ChangeOptions(), set(), False),
    ("old row, stemcell", current(recorded=False), planned(vm=("sc-2", *VM[1:])), ChangeOptions(),
     {"vm_spec"}, True),
    ("old row, network", current(recorded=False), planned(vm=(VM[0], VM[1], OTHER_NETS, *VM[3:]),
                                                          networks=OTHER_NETS), ChangeOptions(), {"network"}, True),
    ("stemcell and properties", current(), planned(vm=("sc-2", *VM[1:]), configuration_hash="c2"), ChangeOptions(),
     {"stemcell", "configuration"}, True),
]


@pytest.mark.parametrize("case, before, after, options, expected, recreate", CASES, ids=[c[0] for c in CASES])
def test_changes_are_named(case, before, after, options, expected, recreate):
    names = instance_changes(before, after, options)
    assert names == frozenset(expected)
    assert needs_vm(names) is recreate


def test_stopped_instance_planned_started_names_state():
    stopped = CurrentInstance(True, planned().vm_digest, current().applied_spec, state="stopped")
    assert instance_changes(stopped, planned()) == {"state"}


def test_the_log_line_is_sorted_and_stable():
    assert describe(frozenset({"network", "configuration"})) == "configuration, network"
    assert describe(frozenset()) == "no changes"


def test_the_archive_and_recorded_vm_facts_are_not_changes():
    """The rendered archive gets a new blob id at every apply; the facts are bookkeeping."""
    before = current()
    before.applied_spec["rendered_templates_archive"] = {"blobstore_id": "other"}
    before.applied_spec[VM_SPEC_KEY] = {**vm_spec(*VM), "stemcell": "ignored: digest equal"}
    assert instance_changes(before, planned()) == frozenset()
