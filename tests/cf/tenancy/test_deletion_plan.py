"""tenancy/deletion.py's plan as a table: what deleting a space or an org does, in which
order, and when it is refused without ``recursive=true``; and who may delete (permissions.py)."""

from __future__ import annotations

import pytest
from cf_platform.cloud_controller.models import Organization, Space
from cf_platform.cloud_controller.tenancy import permissions as p
from cf_platform.cloud_controller.tenancy.deletion import (
    DeleteApp,
    DeleteInstance,
    DeleteOrg,
    DeleteSpace,
    NotEmpty,
    SpaceContents,
    plan_org,
    plan_space,
)
from cf_platform.cloud_controller.tenancy.permissions import Roles

ORG = Organization("org-1", "acme", "t")
DEV, OPS = Space("space-1", "dev", ORG.guid, "t"), Space("space-2", "ops", ORG.guid, "t")
APPS = (("a1", "web"), ("a2", "worker"))
INSTANCES = (("i1", "db"),)


@pytest.mark.parametrize("apps, instances, refused", [
    ((), (), None),
    (APPS, (), ["app_models"]),
    ((), INSTANCES, ["service_instances"]),
    (APPS, INSTANCES, ["app_models", "service_instances"]),
])
def test_a_space_is_deleted_without_recursive_only_when_empty(apps, instances, refused):
    contents = SpaceContents(DEV, apps, instances)
    if refused is None:
        assert plan_space(contents, recursive=False) == [DeleteSpace(DEV.guid, "dev")]
        return
    with pytest.raises(NotEmpty) as e:
        plan_space(contents, recursive=False)
    assert e.value.associations == refused and e.value.of == "spaces"


def test_recursive_deletes_apps_first_then_instances_then_the_space():
    """Apps first: deleting an app unbinds it at the brokers, so the instances are free of
    bindings when they are deprovisioned."""
    steps = plan_space(SpaceContents(DEV, APPS, INSTANCES), recursive=True)
    assert steps == [DeleteApp("a1", "web"), DeleteApp("a2", "worker"), DeleteInstance("i1", "db"),
                     DeleteSpace(DEV.guid, "dev")]


def test_an_org_with_spaces_needs_recursive_even_when_they_are_empty():
    with pytest.raises(NotEmpty) as e:
        plan_org(ORG, [SpaceContents(DEV)], recursive=False)
    assert e.value.associations == ["spaces"] and e.value.of == "organizations"
    assert plan_org(ORG, [], recursive=False) == [DeleteOrg(ORG.guid, "acme")]
    steps = plan_org(ORG, [SpaceContents(DEV, APPS[:1]), SpaceContents(OPS, (), INSTANCES)], recursive=True)
    assert steps == [DeleteApp("a1", "web"), DeleteSpace(DEV.guid, "dev"), DeleteInstance("i1", "db"),
                     DeleteSpace(OPS.guid, "ops"), DeleteOrg(ORG.guid, "acme")]


@pytest.mark.parametrize("roles, delete_space, delete_org", [
    (Roles(admin=True), True, True),
    (Roles(managed_orgs=frozenset({ORG.guid}), member_orgs=frozenset({ORG.guid})), True, False),
    (Roles(member_orgs=frozenset({ORG.guid}), developer_spaces=frozenset({DEV.guid})), False, False),
    (Roles(member_orgs=frozenset({ORG.guid}), auditor_spaces=frozenset({DEV.guid})), False, False),
    (Roles(managed_orgs=frozenset({"org-2"}), member_orgs=frozenset({"org-2"})), False, False),
    (Roles(), False, False),
])
def test_who_deletes_spaces_and_orgs(roles, delete_space, delete_org):
    assert p.can_delete_space(roles, ORG.guid) is delete_space
    assert p.can_delete_org(roles) is delete_org
