from bosh_py.director.update_config import resolve_update


def test_percentages_floor_and_minimum_one_in_flight():
    update = resolve_update({"canaries": 1, "max_in_flight": "10%"}, None, 5)
    assert update.max_in_flight == 1  # floor(0.5) is 0, at least 1
    assert resolve_update({"max_in_flight": "100%"}, None, 20).max_in_flight == 20


def test_group_overrides_deployment_and_watch_ranges():
    update = resolve_update({"canaries": 2, "canary_watch_time": "1000-30000"},
                            {"canaries": 1, "update_watch_time": 5000}, 3)
    assert update.canaries == 1
    assert update.canary_watch_time == (1000, 30000)
    assert update.update_watch_time == (5000, 5000)


def test_canaries_never_exceed_group_size():
    assert resolve_update({"canaries": 3}, None, 2).canaries == 2
