import pytest

from bosh_py.manifest import (
    ManifestError,
    find_variable_names,
    interpolate,
    merge_variable_sources,
    parse_var_kv,
    variable_paths,
)


def test_whole_placeholder_keeps_type() -> None:
    doc = {"a": "((n))", "b": "((m))", "c": ["((flag))"], "d": "((!n))"}
    result, missing = interpolate(doc, {"n": 5, "m": {"x": [1, 2]}, "flag": True})
    assert result == {"a": 5, "b": {"x": [1, 2]}, "c": [True], "d": 5}
    assert missing == []


def test_sub_keys_and_strings_inside_strings() -> None:
    doc = {"url": "https://((user)):((creds.password))@host:((port))/"}
    result, _ = interpolate(doc, {"user": "admin", "creds": {"password": "pw"}, "port": 8080})
    assert result == {"url": "https://admin:pw@host:8080/"}
    result, _ = interpolate({"cert": "((tls.certificate))"}, {"tls": {"certificate": "PEM"}})
    assert result == {"cert": "PEM"}


def test_map_inside_string_is_an_error_with_path() -> None:
    doc = {"instance_groups": [{"name": "router", "jobs": [{"properties": {"x": "a-((m))"}}]}]}
    with pytest.raises(ManifestError) as caught:
        interpolate(doc, {"m": {"k": 1}}, "manifest.yml")
    assert caught.value.path == "instance_groups/router/jobs/0/properties/x"
    assert caught.value.source == "manifest.yml"
    assert "Invalid type 'dict' for variable 'm'" in caught.value.message


def test_every_missing_variable_is_listed() -> None:
    doc = {"a": "((a))", "b": ["x-((b.key))", "((a))"], "c": "((!c))"}
    with pytest.raises(ManifestError) as caught:
        interpolate(doc, {}, "manifest.yml")
    assert str(caught.value) == "manifest.yml: Expected to find variables: a, b, c"


def test_non_strict_leaves_placeholders_and_reports_missing() -> None:
    doc = {"a": "((a))", "b": "((b))-((c))"}
    result, missing = interpolate(doc, {"b": "B"}, strict=False)
    assert result == {"a": "((a))", "b": "B-((c))"}
    assert missing == ["a", "c"]


def test_missing_sub_key() -> None:
    with pytest.raises(ManifestError) as caught:
        interpolate({"p": {"x": "((tls.nope))"}}, {"tls": {"certificate": "c"}})
    assert str(caught.value) == "p/x: Expected to find key 'nope' in variable 'tls'"


def test_input_not_mutated_and_values_copied() -> None:
    value = {"list": [1]}
    doc = {"a": "((v))", "b": "((v))"}
    result, _ = interpolate(doc, {"v": value})
    result["a"]["list"].append(2)
    assert doc == {"a": "((v))", "b": "((v))"}
    assert value == {"list": [1]} and result["b"] == {"list": [1]}


def test_keys_are_interpolated() -> None:
    result, _ = interpolate({"((k))": 1}, {"k": "port"})
    assert result == {"port": 1}


def test_find_variable_names_and_paths() -> None:
    doc = {"instance_groups": [{"name": "web", "env": {"pw": "((!pw))", "u": "((db.user))-((pw))"}}], "x": 1}
    assert find_variable_names(doc) == ["pw", "db"]
    assert variable_paths(doc) == {"instance_groups/web/env/pw": ["pw"], "instance_groups/web/env/u": ["db", "pw"]}


def test_var_kv_follows_bosh_cli() -> None:
    assert parse_var_kv("port=8080") == ("port", 8080)
    assert parse_var_kv("name=hello world") == ("name", "hello world")
    assert parse_var_kv("q='quoted'") == ("q", "quoted")
    assert parse_var_kv("ips=[a, b]") == ("ips", ["a", "b"])
    assert parse_var_kv("url=http://x:1/a=b") == ("url", "http://x:1/a=b")
    assert parse_var_kv("bad=: [") == ("bad", ": [")
    with pytest.raises(ManifestError, match="Expected var 'novalue' to be in format 'name=value'"):
        parse_var_kv("novalue")
    with pytest.raises(ManifestError, match="non-empty name"):
        parse_var_kv("=x")


def test_sources_precedence_kv_then_files_then_store() -> None:
    merged = merge_variable_sources(["a=kv"], [{"a": "file1", "b": "file1"}, {"b": "file2", "c": "file2"}],
                                    {"a": "store", "b": "store", "c": "store", "d": "store"})
    assert merged == {"a": "kv", "b": "file2", "c": "file2", "d": "store"}
