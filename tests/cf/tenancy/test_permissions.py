"""permissions.py as a table: who may see and change what, from a snapshot of roles."""

from __future__ import annotations

import pytest
from cf_platform.cloud_controller.tenancy import permissions as p
from cf_platform.cloud_controller.tenancy.permissions import Roles

ORG, OTHER_ORG = "org-1", "org-2"
SPACE, OTHER_SPACE = "space-1", "space-2"      # SPACE in ORG; OTHER_SPACE in OTHER_ORG

ADMIN = Roles(admin=True)
DEVELOPER = Roles(member_orgs=frozenset({ORG}), developer_spaces=frozenset({SPACE}))
AUDITOR = Roles(member_orgs=frozenset({ORG}), auditor_spaces=frozenset({SPACE}))
MANAGER = Roles(managed_orgs=frozenset({ORG}), member_orgs=frozenset({ORG}))
MEMBER = Roles(member_orgs=frozenset({ORG}))
NOBODY = Roles()


@pytest.mark.parametrize("roles, read, write, manage, see_org", [
    (ADMIN, True, True, True, True),
    (DEVELOPER, True, True, False, True),
    (AUDITOR, True, False, False, True),
    (MANAGER, True, False, True, True),
    (MEMBER, False, False, False, True),
    (NOBODY, False, False, False, False),
])
def test_roles_in_their_own_org_and_space(roles, read, write, manage, see_org):
    assert p.can_read_apps(roles, SPACE, ORG) is read
    assert p.can_see_space(roles, SPACE, ORG) is read
    assert p.can_write_apps(roles, SPACE) is write
    assert p.can_manage_org(roles, ORG) is manage
    assert p.can_see_org(roles, ORG) is see_org


@pytest.mark.parametrize("roles", [DEVELOPER, AUDITOR, MANAGER, MEMBER, NOBODY])
def test_no_role_reaches_another_org_or_space(roles):
    assert not p.can_read_apps(roles, OTHER_SPACE, OTHER_ORG)
    assert not p.can_write_apps(roles, OTHER_SPACE)
    assert not p.can_manage_org(roles, OTHER_ORG)
    assert not p.can_see_org(roles, OTHER_ORG)


def test_admin_reaches_every_org_and_space():
    assert p.can_write_apps(ADMIN, OTHER_SPACE) and p.can_manage_org(ADMIN, OTHER_ORG)
