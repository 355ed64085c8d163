"""The routes table alone: register, unregister, round robin, pruning, snapshot, validation."""

from __future__ import annotations

import pytest

from cf_platform.router.registry import (Endpoint, InvalidRoute, RouteKey, RouteRegistry,
                                         endpoint_from_message, uris_from_message)


def ep(host: str = "10.0.0.1", port: int = 61001, app: str = "app", now: float = 0.0, **kw) -> Endpoint:
    return Endpoint(host, port, app=app, updated_at=now, **kw)


def test_round_robin_over_every_endpoint_of_a_route():
    reg = RouteRegistry()
    for port in (1, 2, 3):
        reg.register(["hello.example.com"], ep(port=port))
    picks = [reg.lookup("hello.example.com").port for _ in range(6)]
    assert picks == [1, 2, 3, 1, 2, 3]


def test_lookup_ignores_case_port_and_trailing_dot_and_misses_unknown_hosts():
    reg = RouteRegistry()
    reg.register(["Hello.Example.com"], ep())
    assert reg.lookup("HELLO.example.com.").address == "10.0.0.1:61001"
    assert reg.lookup("hello.example.com:8080").address == "10.0.0.1:61001"
    assert reg.lookup("other.example.com") is None


def test_exact_host_beats_wildcard_and_longest_path_wins():
    reg = RouteRegistry()
    reg.register(["*.example.com"], ep(port=1))
    reg.register(["api.example.com"], ep(port=2))
    reg.register(["api.example.com/v2"], ep(port=3))
    assert reg.lookup("foo.example.com").port == 1
    assert reg.lookup("a.b.example.com").port == 1
    assert reg.lookup("api.example.com", "/").port == 2
    assert reg.lookup("api.example.com", "/v2").port == 3
    assert reg.lookup("api.example.com", "/v2/apps").port == 3
    assert reg.lookup("api.example.com", "/v2x").port == 2
    assert reg.lookup("example.com") is None


def test_reregistering_refreshes_without_duplicates_and_only_detail_changes_count():
    reg = RouteRegistry()
    reg.register(["a.example.com"], ep(now=1))
    generation = reg.generation
    reg.register(["a.example.com"], ep(now=50))
    assert reg.generation == generation, "a refresh must not look like a change (no reload)"
    [endpoint] = reg.routes()[RouteKey("a.example.com")]
    assert endpoint.updated_at == 50
    reg.register(["a.example.com"], ep(now=60, app="other"))
    assert reg.generation > generation
    assert reg.routes()[RouteKey("a.example.com")][0].app == "other"


def test_unregister_removes_host_port_per_uri_and_drops_empty_routes():
    reg = RouteRegistry()
    reg.register(["a.example.com", "b.example.com"], ep(port=1))
    reg.register(["a.example.com"], ep(port=2))
    assert reg.unregister(["a.example.com", "b.example.com"], "10.0.0.1", 1) == 2
    assert [e.port for e in reg.routes()[RouteKey("a.example.com")]] == [2]
    assert RouteKey("b.example.com") not in reg.routes()
    assert reg.unregister(["a.example.com"], "10.0.0.9", 1) == 0


def test_prune_drops_endpoints_older_than_the_threshold():
    reg = RouteRegistry(stale_threshold=120)
    reg.register(["a.example.com"], ep(port=1, now=0))
    reg.register(["a.example.com"], ep(port=2, now=100))
    assert reg.prune(now=119) == []
    assert reg.prune(now=121) == [("a.example.com", "10.0.0.1:1")]
    assert reg.prune(now=221) == [("a.example.com", "10.0.0.1:2")]
    assert len(reg) == 0


def test_a_message_threshold_may_shorten_the_routers_but_never_lengthen_it():
    reg = RouteRegistry(stale_threshold=10)
    reg.register(["a.example.com"], ep(port=1, now=0))
    reg.register(["a.example.com"], ep(port=2, now=0, stale_threshold=5))
    reg.register(["a.example.com"], ep(port=3, now=0, stale_threshold=1e9))
    assert reg.prune(now=4) == []
    assert reg.prune(now=6) == [("a.example.com", "10.0.0.1:2")]
    assert reg.prune(now=11) == [("a.example.com", "10.0.0.1:1"), ("a.example.com", "10.0.0.1:3")]


def test_snapshot_lists_routes_with_endpoint_details():
    reg = RouteRegistry()
    reg.register(["b.example.com", "a.example.com/x"], ep(port=1, app="g1", private_instance_id="i1",
                                                         tags={"component": "dea"}, now=5))
    snap = reg.snapshot()
    assert list(snap) == ["a.example.com/x", "b.example.com"]
    assert snap["b.example.com"] == [{
        "address": "10.0.0.1:1", "app": "g1", "private_instance_id": "i1",
        "private_instance_index": None, "tags": {"component": "dea"}, "updated_at": 5,
        "stale_threshold_in_seconds": None}]


def test_routes_returns_copies():
    reg = RouteRegistry()
    reg.register(["a.example.com"], ep())
    reg.routes()[RouteKey("a.example.com")][0].port = 9
    assert reg.lookup("a.example.com").port == 61001


@pytest.mark.parametrize("uri, key", [
    ("hello.example.com", RouteKey("hello.example.com")),
    ("HTTP://Hello.Example.com/", RouteKey("hello.example.com")),
    ("hello.example.com:80/api/v2/", RouteKey("hello.example.com", "/api/v2")),
    ("*.apps.example.com", RouteKey("*.apps.example.com")),
])
def test_uri_parsing(uri, key):
    assert RouteKey.parse(uri) == key


@pytest.mark.parametrize("uri", [
    "", "bad host.example.com", "a;b.example.com", "x.example.com/a b", 'x.example.com/"',
    "x.example.com/a{b}", "x.example.com/$x", "a.*.example.com", "-a.example.com", 42,
    "x.bosh-py.local\n/x", "x.example.com/a\n/b", "x.example.com/../etc", "x.example.com/a/./b",
    "x.example.com/" + "a" * 600, "x" * 300 + ".example.com",
])
def test_uris_that_could_break_the_data_plane_are_refused(uri):
    with pytest.raises(InvalidRoute):
        RouteKey.parse(uri)
    reg = RouteRegistry()
    assert reg.register([uri, "ok.example.com"], ep()) == [str(uri)]
    assert list(reg.snapshot()) == ["ok.example.com"]


@pytest.mark.parametrize("message", [
    {"host": "10.0.0.1", "port": 0}, {"host": "10.0.0.1", "port": 70000},
    {"host": "10.0.0.1"}, {"port": 1}, {"host": "1.2.3.4; evil", "port": 1},
    {"host": "999.1.1.1", "port": 1}, {"host": "10.0.0.1", "port": True},
    {"host": "10.0.0.1\n", "port": 1}, {"host": "10.0.0.1", "port": "61002"},
    {"host": "10.0.0.1", "port": 1.5}, {"host": "10.0.0.1", "port": 1, "app": ["x"]},
    {"host": "10.0.0.1", "port": 1, "private_instance_id": "a\nb"},
    {"host": "10.0.0.1", "port": 1, "private_instance_index": -1},
    {"host": "10.0.0.1", "port": 1, "tags": {"bad key!": "x"}},
    {"host": "10.0.0.1", "port": 1, "tags": {"k": "v\n"}},
    {"host": "10.0.0.1", "port": 1, "tags": {f"k{i}": "v" for i in range(100)}},
    {"host": "10.0.0.1", "port": 1, "stale_threshold_in_seconds": "30"},
    {"host": "10.0.0.1", "port": 1, "stale_threshold_in_seconds": float("inf")},
    [], "text", None, 7,
])
def test_invalid_endpoints_are_refused(message):
    with pytest.raises(InvalidRoute):
        endpoint_from_message(message, 0)


def test_endpoint_from_a_dea_message():
    e = endpoint_from_message({"host": "10.244.0.7", "port": 61002, "app": "guid",
                               "private_instance_id": "iid", "private_instance_index": 2,
                               "tags": {"component": "dea-1"},
                               "stale_threshold_in_seconds": 30}, now=7)
    assert (e.address, e.app, e.private_instance_id, e.private_instance_index, e.tags,
            e.stale_threshold, e.updated_at) == \
        ("10.244.0.7:61002", "guid", "iid", 2, {"component": "dea-1"}, 30.0, 7)


def test_a_message_threshold_above_the_routers_is_capped():
    e = endpoint_from_message({"host": "10.0.0.1", "port": 1, "stale_threshold_in_seconds": 1e9},
                              now=0, max_stale=120)
    assert e.stale_threshold == 120


@pytest.mark.parametrize("uris", [None, "a.example.com", [1], ["x"] * 101, ["a\nb"]])
def test_uris_must_be_a_bounded_list_of_strings(uris):
    with pytest.raises(InvalidRoute):
        uris_from_message({"host": "10.0.0.1", "port": 1, "uris": uris})
