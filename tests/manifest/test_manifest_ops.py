from typing import Any

import pytest

from bosh_py.manifest import ManifestError, apply_ops, load_yaml

DOC: dict[str, Any] = {
    "name": "cf",
    "instance_groups": [
        {"name": "router", "instances": 1, "jobs": [{"name": "gorouter", "properties": {"port": 80}}]},
        {"name": "nats", "instances": 2},
    ],
    "a/b": {"~x": 1},
}


def apply(*ops: dict[str, Any]) -> Any:
    return apply_ops(DOC, list(ops), "ops.yml")


def fails(*ops: dict[str, Any]) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        apply(*ops)
    return caught.value


def test_replace_by_key_index_and_name() -> None:
    result = apply(
        {"type": "replace", "path": "/name", "value": "cf2"},
        {"type": "replace", "path": "/instance_groups/name=router/instances", "value": 3},
        {"type": "replace", "path": "/instance_groups/1/instances", "value": 5},
        {"type": "replace", "path": "/instance_groups/name=router/jobs/0/properties/port", "value": 8080},
    )
    assert result["name"] == "cf2"
    assert [g["instances"] for g in result["instance_groups"]] == [3, 5]
    assert result["instance_groups"][0]["jobs"][0]["properties"]["port"] == 8080


def test_input_documents_are_never_mutated() -> None:
    value = {"name": "new", "instances": 1}
    ops = [{"type": "replace", "path": "/instance_groups/-", "value": value}]
    before = repr(DOC), repr(ops)
    result = apply_ops(DOC, ops)
    result["instance_groups"][-1]["instances"] = 9
    assert (repr(DOC), repr(ops)) == before
    assert value["instances"] == 1


def test_append_and_negative_index() -> None:
    result = apply({"type": "replace", "path": "/instance_groups/-", "value": {"name": "uaa"}},
                   {"type": "remove", "path": "/instance_groups/-1"})
    assert [g["name"] for g in result["instance_groups"]] == ["router", "nats"]


def test_optional_creates_missing_maps_and_items() -> None:
    result = apply(
        {"type": "replace", "path": "/features?/use_dns_addresses", "value": True},
        {"type": "replace", "path": "/instance_groups/name=uaa?/instances", "value": 1},
        {"type": "replace", "path": "/instance_groups/name=nats/env?/bosh/password", "value": "x"},
        {"type": "replace", "path": "/tags?/-", "value": "t"},
    )
    assert result["features"] == {"use_dns_addresses": True}
    assert result["instance_groups"][2] == {"name": "uaa", "instances": 1}
    assert result["instance_groups"][1]["env"] == {"bosh": {"password": "x"}}
    assert result["tags"] == ["t"]


def test_optional_remove_is_a_no_op() -> None:
    assert apply({"type": "remove", "path": "/nope?"}, {"type": "remove", "path": "/instance_groups/name=x?"}) == DOC


def test_remove() -> None:
    result = apply({"type": "remove", "path": "/instance_groups/name=router/jobs/0/properties/port"},
                   {"type": "remove", "path": "/instance_groups/name=nats"})
    assert result["instance_groups"] == [{"name": "router", "instances": 1, "jobs": [{"name": "gorouter", "properties": {}}]}]


def test_escapes() -> None:
    result = apply({"type": "replace", "path": "/a~1b/~0x", "value": 2})
    assert result["a/b"] == {"~x": 2}


def test_before_after_modifiers() -> None:
    result = apply({"type": "replace", "path": "/instance_groups/name=nats:before", "value": {"name": "a"}},
                   {"type": "replace", "path": "/instance_groups/0:after", "value": {"name": "b"}})
    assert [g["name"] for g in result["instance_groups"]] == ["router", "b", "a", "nats"]


def test_replace_whole_document() -> None:
    assert apply({"type": "replace", "path": "", "value": {"x": 1}}) == {"x": 1}


def test_missing_map_key_message_matches_go_patch() -> None:
    error = fails({"type": "replace", "path": "/name", "value": "x"},
                  {"type": "replace", "path": "/instance_groups/name=router/jobs/0/propertiez/port", "value": 1})
    assert str(error) == (
        "ops.yml: 1: Expected to find a map key 'propertiez' for path "
        "'/instance_groups/name=router/jobs/0/propertiez' (found map keys: 'name', 'properties')"
    )
    error = fails({"type": "replace", "path": "/instance_groups/0/jobs/0/properties/port/x", "value": 1})
    assert error.message == "Expected to find a map at path '/instance_groups/0/jobs/0/properties/port/x' but found 'integer'"


def test_index_and_matching_errors() -> None:
    assert fails({"type": "remove", "path": "/instance_groups/7"}).message == (
        "Expected to find array index '7' but found array of length '2' for path '/instance_groups/7'")
    assert fails({"type": "remove", "path": "/instance_groups/name=x/instances"}).message == (
        "Expected to find exactly one matching array item for path '/instance_groups/name=x' but found 0")
    assert fails({"type": "remove", "path": "/name/0"}).message == (
        "Expected to find an array at path '/name/0' but found 'string'")
    assert fails({"type": "remove", "path": ""}).message == "Cannot remove entire document"


def test_custom_error_text() -> None:
    error = fails({"type": "remove", "path": "/nope", "error": "this ops file needs the uaa group"})
    assert str(error) == "ops.yml: 0: this ops file needs the uaa group"


@pytest.mark.parametrize(
    ("op", "path", "message"),
    [
        ({"type": "add", "path": "/a", "value": 1}, "0/type", "Unknown operation with type 'add' (expected 'replace' or 'remove')"),
        ({"path": "/a"}, "0", "missing required key 'type'"),
        ({"type": "replace", "value": 1}, "0", "missing required key 'path'"),
        ({"type": "replace", "path": "/a"}, "0", "missing required key 'value'"),
        ({"type": "remove", "path": "/a", "value": 1}, "0/value", "Cannot specify value"),
        ({"type": "remove", "path": "/a", "vaule": 1}, "0", "unknown key 'vaule'"),
        ({"type": "remove", "path": "a"}, "0/path", "Invalid path 'a': Expected to start with '/'"),
        ({"type": "remove", "path": "/a:first"}, "0/path",
         "Invalid path '/a:first': Expected to find one of the following modifiers: 'prev', 'next', 'before', or 'after' but found 'first'"),
        ("remove /a", "0", "expected a map, found string"),
    ],
)
def test_invalid_ops_rejected_before_any_is_applied(op: Any, path: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        apply_ops(DOC, [op], "ops.yml")
    assert (caught.value.source, caught.value.path, caught.value.message) == ("ops.yml", path, message)


def test_ops_from_yaml_round_trip() -> None:
    ops = load_yaml("- type: replace\n  path: /instance_groups/name=nats/instances\n  value: 3\n", "o.yml", kind="list")
    assert apply_ops(DOC, ops)["instance_groups"][1]["instances"] == 3


def test_optional_step_needs_a_creatable_next_step() -> None:
    assert fails({"type": "replace", "path": "/new?/0", "value": 1}).message == (
        "Expected to find key, matching index or after last index token at path '/new?/0'")


def test_dash_only_appends_as_last_step() -> None:
    assert fails({"type": "replace", "path": "/instance_groups/-/name", "value": 1}).message == (
        "Expected to find a map at path '/instance_groups/-' but found 'array'")
    assert fails({"type": "remove", "path": "/instance_groups/-"}).message == (
        "Expected to not find token '-' at path '/instance_groups/-'")


def test_ops_file_must_be_a_list() -> None:
    with pytest.raises(ManifestError) as caught:
        apply_ops(DOC, {"type": "remove", "path": "/a"}, "ops.yml")
    assert str(caught.value) == "ops.yml: expected a list of operations, found map"
