import copy

import yaml

from bosh_py.manifest import (
    REDACTED,
    diff,
    find_variable_names,
    generate_variables,
    interpolate,
    load_yaml,
    parse_deployment,
    redact,
    secret_values,
    variable_paths,
)
from tests.manifest.samples import group


def test_redact_by_value_path_and_properties() -> None:
    doc = {"a": "hunter22", "b": "postgres://u:hunter22@db", "c": "safe", "n": 1,
           "instance_groups": [{"name": "web", "env": {"token": {"x": "abc", "y": [1]}}}],
           "jobs": [{"properties": {"port": 80, "nested": {"k": "v"}}}]}
    result = redact(doc, {"hunter22", "x"}, ["instance_groups/web/env/token"], redact_properties=True)
    assert result == {"a": REDACTED, "b": REDACTED, "c": "safe", "n": 1,
                      "instance_groups": [{"name": "web", "env": {"token": {"x": REDACTED, "y": [REDACTED]}}}],
                      "jobs": [{"properties": {"port": REDACTED, "nested": {"k": REDACTED}}}]}
    assert doc["a"] == "hunter22"


def test_diff_shows_changes_with_their_enclosing_lines() -> None:
    old = {"name": "cf", "instance_groups": [{"name": "router", "instances": 1}, {"name": "nats", "instances": 1}]}
    new = copy.deepcopy(old)
    new["instance_groups"][1]["instances"] = 2
    new["tags"] = {"team": "x"}
    assert diff(old, new) == [
        "  instance_groups:",
        "  - name: nats",
        "-   instances: 1",
        "+   instances: 2",
        "+ tags:",
        "+   team: x",
    ]
    assert diff(new, new) == []
    assert diff(None, {"name": "cf"}) == ["+ name: cf"]


def test_changed_secret_shows_as_changed_but_redacted() -> None:
    old = {"instance_groups": [{"name": "web", "env": {"password": "old-secret-1"}}]}
    new = {"instance_groups": [{"name": "web", "env": {"password": "new-secret-2"}}]}
    lines = diff(old, new, secret_values={"old-secret-1", "new-secret-2"})
    assert lines == ["  instance_groups:", "  - name: web", "    env:",
                     f"-     password: {REDACTED}", f"+     password: {REDACTED}"]


def test_deploy_flow_diff_never_shows_a_secret(manifest_doc) -> None:
    """Generate, interpolate, change, diff: no generated value (or piece of PEM) leaks."""
    store = generate_variables(manifest_doc["variables"], {})
    assert find_variable_names(manifest_doc) == ["nats_password", "router_tls"]
    old, _ = interpolate(manifest_doc, store, "manifest.yml")
    parse_deployment(old, "manifest.yml")
    rotated = dict(store, nats_password="z" * 20)
    changed = copy.deepcopy(manifest_doc)
    group(changed, "router")["instances"] = 4
    group(changed, "nats")["env"] = {"bosh": {"password": "((nats_password))"}}
    new, _ = interpolate(changed, rotated, "manifest.yml")
    lines = diff(old, new, secret_values=secret_values(store) | secret_values(rotated),
                 secret_paths=variable_paths(changed), redact_properties=False)
    text = "\n".join(lines)
    assert "+       password: <redacted>" in text and "-   instances: 3" in text
    assert "-         password: <redacted>" in text  # the rotated password shows as changed
    for value in secret_values(store) | secret_values(rotated):
        for line in value.splitlines():
            if len(line) > 8:
                assert line not in text
    assert "BEGIN" not in text


def test_yaml_round_trip(manifest_doc) -> None:
    again = load_yaml(yaml.safe_dump(manifest_doc), "again.yml")
    assert again == manifest_doc
    assert parse_deployment(interpolate(again, {"nats_password": "p", "router_tls": {}})[0]) == parse_deployment(
        interpolate(manifest_doc, {"nats_password": "p", "router_tls": {}})[0])
