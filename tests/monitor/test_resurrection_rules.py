"""update-resurrection rules: the most specific wins, none means on, stored in the DB."""

from __future__ import annotations

import pytest

from bosh_py.director.db import open_database
from bosh_py.monitor.resurrection_rules import describe, enabled, load_rules, set_rule


@pytest.mark.parametrize("rules, deployment, group, expected", [
    ({}, "cf", "router", True),
    ({("", ""): False}, "cf", "router", False),
    ({("", ""): False, ("cf", ""): True}, "cf", "router", True),
    ({("cf", ""): True, ("cf", "router"): False}, "cf", "router", False),
    ({("cf", ""): False}, "other", "router", True),
    ({("cf", "dea"): False}, "cf", "router", True),
])
def test_the_most_specific_rule_wins(rules, deployment, group, expected):
    assert enabled(rules, deployment, group) is expected


def test_rules_are_stored_and_replaced(tmp_path):
    sessions = open_database(f"sqlite:///{tmp_path / 'd.db'}")
    with sessions.begin() as session:
        set_rule(session, False, "cf")
        set_rule(session, True, "cf", "router")
    with sessions.begin() as session:
        set_rule(session, True, "cf")
    with sessions() as session:
        rules = load_rules(session)
    assert rules == {("cf", ""): True, ("cf", "router"): True}
    assert describe(rules)[0] == {"deployment": "cf", "instance_group": None, "resurrection": "on"}


def test_a_group_rule_needs_a_deployment(tmp_path):
    sessions = open_database(f"sqlite:///{tmp_path / 'd.db'}")
    with sessions.begin() as session, pytest.raises(ValueError, match="needs a deployment"):
        set_rule(session, False, "", "router")
