"""The NATS message checks shared by the components (cf_platform.messages) and the cloud
controller's parsers: pure functions, no processes."""

from __future__ import annotations

import pytest

from cf_platform.cloud_controller.messages import (parse_discover_reply, parse_find_reply,
                                                   parse_health_start, parse_health_stop,
                                                   parse_staging_reply)
from cf_platform.messages import HTTP_URL_RE, ID_RE, Fields, MessageError, parse_exited

EXITED = {"droplet": "app-1", "version": "v1", "instance": "i1", "index": 0, "reason": "CRASHED",
          "exit_status": 1, "exit_description": "boom", "crash_timestamp": 1.5}


def test_a_valid_exit_is_kept_field_by_field():
    assert parse_exited(EXITED) == EXITED


@pytest.mark.parametrize("change", [
    {"droplet": "app-1\n"}, {"droplet": None}, {"index": True}, {"index": -1}, {"index": "0"},
    {"reason": "EXPLODED"}, {"crash_timestamp": float("nan")}, {"crash_timestamp": float("inf")},
    {"exit_status": 2 ** 40}, {"version": "v1\n"}, {"exit_description": ["x"]},
])
def test_a_bad_field_refuses_the_exit_and_names_the_field(change):
    key = next(iter(change))
    with pytest.raises(MessageError, match=f"droplet.exited: '{key}'"):
        parse_exited({**EXITED, **change})


@pytest.mark.parametrize("payload", [None, [], "text", 7, True])
def test_anything_but_an_object_is_refused(payload):
    with pytest.raises(MessageError, match="expected a JSON object"):
        parse_exited(payload)


def test_free_text_is_cut_and_cleaned_not_refused():
    message = parse_exited({**EXITED, "exit_description": "line one\nline two\x00" + "x" * 5000})
    assert message["exit_description"].startswith("line one line two ")
    assert len(message["exit_description"]) == 1024


def test_a_secret_value_is_never_echoed():
    with pytest.raises(MessageError) as error:
        Fields({"uri": "http://user:hunter2@10.0.0.1/x\n"}, "staging").text("uri", HTTP_URL_RE, secret=True)
    assert "hunter2" not in str(error.value) and "'uri'" in str(error.value)


def test_lists_are_bounded():
    with pytest.raises(MessageError, match="at most 10"):
        Fields({"ids": ["a"] * 11}, "x").texts("ids", ID_RE, max_items=10)


def test_health_requests():
    assert parse_health_start({"droplet": "g", "version": "v", "indices": [0, 2]}) == \
        {"droplet": "g", "version": "v", "indices": [0, 2]}
    assert parse_health_stop({"droplet": "g", "instances": ["i1"]}) == {"droplet": "g", "instances": ["i1"]}
    for bad in ({"droplet": "g", "indices": [1000]}, {"droplet": "g", "indices": "0"},
                {"droplet": "g>", "indices": [0]}, {"droplet": "g"}):
        with pytest.raises(MessageError):
            parse_health_start(bad)
    with pytest.raises(MessageError):
        parse_health_stop({"droplet": "g", "instances": ["i\n1"]})


def test_dea_replies():
    assert parse_discover_reply({"id": "0-abc", "ip": "10.0.0.5"})["id"] == "0-abc"
    for bad_id in ("a.b", "a*", "a>", "", "a b", 7):   # the id becomes a subject token
        with pytest.raises(MessageError):
            parse_discover_reply({"id": bad_id})
    reply = parse_find_reply({"dea": "d", "droplet": "g", "instance": "i", "index": 0, "state": "RUNNING",
                              "state_timestamp": 1.0, "host": "10.0.0.5", "port": 61000,
                              "stats": {"uptime": 3, "mem_quota": 100, "usage": {"mem": 5, "cpu": 1.5}}})
    assert reply["stats"]["usage"] == {"mem": 5.0, "cpu": 1.5, "disk": None}
    with pytest.raises(MessageError):
        parse_find_reply({"dea": "d", "droplet": "g", "instance": "i", "index": 0, "state": "RUNNING",
                          "state_timestamp": "yesterday"})
    assert parse_staging_reply({"error": "no buildpack", "log": "a\nb"}) == {"error": "no buildpack", "log": "a\nb"}
    with pytest.raises(MessageError):
        parse_staging_reply({"droplet_sha1": "not-a-sha1", "log": ""})
