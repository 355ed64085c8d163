"""The cloud controller's pure rules: what one change of desired state asks of the DEAs
(convergence.py), what an update request changes (app_rules.py), and what NATS requests
are read as (bus_requests.py). No NATS, no database."""

from __future__ import annotations

import dataclasses

import pytest

from cf_platform.cloud_controller import app_rules, bus_requests
from cf_platform.cloud_controller.convergence import Stage, Start, Stop, plan
from cf_platform.cloud_controller.errors import ApiError
from cf_platform.cloud_controller.models import FAILED, PENDING, STAGED, STARTED, STOPPED, App


def app(**fields) -> App:
    base = App(guid="g", name="hello", memory=128, instances=2, disk_quota=256, state=STARTED,
               package_state=STAGED, version="v1", created_at="t", updated_at="t", bits_sha1="bits")
    return dataclasses.replace(base, **fields)


def test_stopping_stops_everything_and_a_stopped_app_needs_nothing():
    assert plan(app(), app(state=STOPPED)) == [Stop("stop")]
    assert plan(app(state=STOPPED), app(state=STOPPED, instances=5)) == []


def test_new_bits_are_staged_and_an_app_without_bits_waits():
    assert plan(app(state=STOPPED), app(package_state=PENDING)) == [Stage()]
    assert plan(app(state=STOPPED), app(package_state=PENDING, bits_sha1=None)) == []
    assert plan(app(state=STOPPED), app(package_state=FAILED)) == []


def test_starting_starts_every_index_and_a_new_version_replaces_the_old():
    assert plan(app(state=STOPPED), app(instances=3)) == [Start("start", "v1", (0, 1, 2))]
    assert plan(app(), app(version="v2")) == [Stop("stop old version", version="v1"),
                                              Start("start", "v2", (0, 1))]


def test_scaling_starts_or_stops_only_the_indices_that_change():
    assert plan(app(instances=2), app(instances=4)) == [Start("scale up", "v1", (2, 3))]
    assert plan(app(instances=4), app(instances=1)) == [Stop("scale down", indices=(1, 2, 3))]
    assert plan(app(), app()) == []


def test_changes_give_a_started_app_a_new_version_only_when_it_must_restart():
    old = app()
    assert "version" in app_rules.changes(old, {"memory": 256})
    assert "version" in app_rules.changes(old, {"environment_json": {"A": "1"}})
    assert "version" not in app_rules.changes(old, {"instances": 5})
    assert app_rules.changes(old, {"memory": 128}) == {}  # unchanged values are not changes


def test_starting_needs_bits_and_restages_a_failed_package():
    with pytest.raises(ApiError, match="upload the app's bits"):
        app_rules.changes(app(state=STOPPED, bits_sha1=None), {"state": STARTED})
    started = app_rules.changes(app(state=STOPPED, package_state=FAILED), {"state": STARTED})
    assert started["package_state"] == PENDING and "version" in started


@pytest.mark.parametrize("body, message", [
    ({"instances": -1}, "instances less than 0"),
    ({"instances": app_rules.MAX_INSTANCES + 1}, "instances more than"),
    ({"memory": 0}, "memory must be greater than 0"),
    ({"memory": True}, "memory must be an integer"),
    ({"state": "RUNNING"}, "state must be one of"),
    ({"environment_json": {"A=B": "x"}}, "environment_json must be an object"),
    ({"name": "  "}, "name must be a non-empty string"),
])
def test_bad_update_fields_are_refused_by_name(body, message):
    with pytest.raises(ApiError, match=message):
        app_rules.changes(app(), body)


def test_health_start_only_for_the_current_version_and_valid_indices():
    current = app(instances=3)
    assert bus_requests.indices_to_start({"version": "v1", "indices": [2, 0, 7, -1, "1", 2]}, current) == [0, 2]
    assert bus_requests.indices_to_start({"version": "v0", "indices": [0]}, current) == []


def test_only_crashes_are_recorded_from_droplet_exited():
    assert bus_requests.crash_of({"droplet": "g", "reason": "STOPPED"}) is None
    crash = bus_requests.crash_of({"droplet": "g", "reason": "CRASHED", "index": 1, "exit_status": 3,
                                   "exit_description": "boom", "crash_timestamp": 5})
    assert crash is not None and (crash.index, crash.exit_status, crash.since) == (1, 3, 5.0)
