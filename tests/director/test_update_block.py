"""The `update` block as BOSH documents it: canaries first, then each AZ in turn in batches
of max_in_flight; serial groups alone, non-serial neighbours together; the deploy flags."""

import pytest

from bosh_py.director.planner import GroupPlan
from bosh_py.director.stages import update_groups
from bosh_py.director.stages.rollout import rollout_batches
from bosh_py.director.update_config import resolve_update, with_flag_overrides
from bosh_py.manifest.update import check_flag


def instances(*azs):
    """(az, index, name) for web/0.. spread as given."""
    return [(az, index, f"web/{index}") for index, az in enumerate(azs)]


def shape(batches):
    return [("canary" if b.canary else b.az, list(b.members)) for b in batches]


def test_max_in_flight_applies_per_az_and_azs_go_one_after_another():
    items = instances("z1", "z2", "z1", "z2", "z1", "z2")  # the planner spreads round-robin
    assert shape(rollout_batches(items, ["z1", "z2"], canaries=1, max_in_flight=2)) == [
        ("canary", ["web/0"]),
        ("z1", ["web/2", "web/4"]),
        ("z2", ["web/1", "web/3"]), ("z2", ["web/5"]),
    ]


def test_canaries_come_from_the_first_az_then_the_next():
    items = instances("z1", "z2", "z1", "z2")
    assert shape(rollout_batches(items, ["z1", "z2"], canaries=3, max_in_flight=5)) == [
        ("canary", ["web/0"]), ("canary", ["web/2"]), ("canary", ["web/1"]), ("z2", ["web/3"])]


def test_no_canaries_and_no_az():
    items = instances(None, None, None)
    assert shape(rollout_batches(items, [None], canaries=0, max_in_flight=2)) == [
        (None, ["web/0", "web/1"]), (None, ["web/2"])]


def test_an_az_no_longer_listed_goes_last():
    items = instances("old", "z1")
    assert shape(rollout_batches(items, ["z1"], canaries=0, max_in_flight=1)) == [("z1", ["web/1"]), ("old", ["web/0"])]


def test_a_percentage_never_rounds_max_in_flight_below_one():
    assert resolve_update({"max_in_flight": "10%"}, None, 3).max_in_flight == 1
    assert resolve_update({"max_in_flight": "50%"}, None, 6).max_in_flight == 3


def test_deploy_flags_override_every_group():
    update = resolve_update({"canaries": 2, "max_in_flight": 1}, {"canaries": 1}, 10)
    overridden = with_flag_overrides(update, 0, "30%", 10)
    assert (overridden.canaries, overridden.max_in_flight) == (0, 3)
    assert with_flag_overrides(update, None, None, 10) == update
    assert with_flag_overrides(update, 50, "1%", 4).canaries == 4  # never more canaries than instances
    assert with_flag_overrides(update, None, "1%", 4).max_in_flight == 1


@pytest.mark.parametrize("value, message", [
    ("ten", "max_in_flight: expected integer or percentage like '25%', found 'ten'"),
    (True, "max_in_flight: expected integer or percentage like '25%', found True"),
    (-1, "max_in_flight: expected a number not below 0, found -1"),
    ([2], "max_in_flight: expected integer or percentage like '25%', found [2]"),
])
def test_bad_flag_values_name_the_flag(value, message):
    with pytest.raises(ValueError) as raised:
        check_flag("max_in_flight", value)
    assert str(raised.value) == message
    assert check_flag("max_in_flight", "25%") == "25%"


def group(name, serial):
    return GroupPlan(name, [], [], None, {}, 0, {}, resolve_update({"serial": serial}, None, 1), "service")


def test_serial_groups_go_alone_and_non_serial_neighbours_together():
    groups = [group("nats", True), group("router", False), group("dea", False), group("cc", True),
              group("hm", False)]
    assert [[g.name for g in part] for part in update_groups.partitions(groups)] == [
        ["nats"], ["router", "dea"], ["cc"], ["hm"]]



def test_the_cli_refuses_a_bad_flag_before_reaching_a_director(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    manifest = tmp_path / "m.yml"
    manifest.write_text("name: x\n")
    cli = Path(sys.executable).parent / "bosh-py"
    result = subprocess.run([str(cli), "deploy", "-n", "--max-in-flight", "ten", str(manifest)],
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "BOSH_PY_CONFIG": str(tmp_path / "none.json")})
    assert result.returncode != 0
    assert "--max-in-flight" in result.stderr and "found 'ten'" in result.stderr, result.stderr
