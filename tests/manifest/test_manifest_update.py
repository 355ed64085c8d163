import pytest

from bosh_py.manifest import parse_percent_or_int, parse_watch_time, resolve_update
from bosh_py.manifest.models import InstanceGroup, UpdateConfig


@pytest.mark.parametrize(
    ("value", "size", "minimum", "expected"),
    [(3, 10, 0, 3), ("25%", 10, 0, 2), ("50%", 5, 0, 2), ("10%", 5, 1, 1), ("100%", 7, 1, 7), ("0%", 4, 0, 0), ("4", 9, 0, 4)],
)
def test_percent_or_int(value, size, minimum, expected) -> None:
    assert parse_percent_or_int(value, size, minimum) == expected


def test_watch_time() -> None:
    assert parse_watch_time(1000) == (1000, 1000)
    assert parse_watch_time("5000") == (5000, 5000)
    assert parse_watch_time("1000 - 30000") == (1000, 30000)
    with pytest.raises(ValueError):
        parse_watch_time("30000-1000")


def test_group_overrides_and_percentages_per_group() -> None:
    update = UpdateConfig.model_validate(
        {"canaries": "50%", "max_in_flight": "10%", "canary_watch_time": "1000-2000", "update_watch_time": 3000})
    group = InstanceGroup.model_validate({
        "name": "web", "azs": ["z1", "z2"], "instances": 9, "jobs": [], "vm_type": "s", "stemcell": "d",
        "networks": [{"name": "n"}], "update": {"update_watch_time": "1-2", "vm_strategy": "create-swap-delete"}})
    resolved = resolve_update(update, group)
    assert (resolved.canaries, resolved.max_in_flight) == (4, 1)
    assert resolved.canary_watch_time == (1000, 2000) and resolved.update_watch_time == (1, 2)
    assert resolved.serial is True and resolved.vm_strategy == "create-swap-delete"
