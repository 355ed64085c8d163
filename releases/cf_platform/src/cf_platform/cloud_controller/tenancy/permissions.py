"""Who may do what, decided from a plain snapshot of one user's roles. Pure: no database, no
request; tests/cf/tenancy/test_permissions.py runs it as a table.

- a token with ``cloud_controller.admin`` may do everything;
- a space developer sees and changes the apps of that space; a space auditor sees them;
- an org manager sees the org's spaces and their apps, creates spaces in the org and gives
  org and space roles in it;
- anyone sees the orgs and spaces they hold a role in, and nothing else;
- only an admin deletes an org; an org manager (or an admin) deletes the org's spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Roles:
    admin: bool = False
    managed_orgs: frozenset[str] = field(default_factory=frozenset)
    member_orgs: frozenset[str] = field(default_factory=frozenset)     # any org or space role in it
    developer_spaces: frozenset[str] = field(default_factory=frozenset)
    auditor_spaces: frozenset[str] = field(default_factory=frozenset)


def can_see_org(roles: Roles, org_guid: str) -> bool:
    return roles.admin or org_guid in roles.member_orgs or org_guid in roles.managed_orgs


def can_manage_org(roles: Roles, org_guid: str) -> bool:
    """Create spaces in the org, give org roles and the roles of its spaces."""
    return roles.admin or org_guid in roles.managed_orgs


def can_see_space(roles: Roles, space_guid: str, org_guid: str) -> bool:
    return (roles.admin or space_guid in roles.developer_spaces or space_guid in roles.auditor_spaces
            or org_guid in roles.managed_orgs)


def can_read_apps(roles: Roles, space_guid: str, org_guid: str) -> bool:
    return can_see_space(roles, space_guid, org_guid)


def can_write_apps(roles: Roles, space_guid: str) -> bool:
    """Create, change, push to, start, stop and delete apps of the space."""
    return roles.admin or space_guid in roles.developer_spaces


def can_delete_org(roles: Roles) -> bool:
    """As CF's default: orgs are the admins' to make and to delete."""
    return roles.admin


def can_delete_space(roles: Roles, org_guid: str) -> bool:
    """The org's managers (and admins): a space developer or auditor may not."""
    return can_manage_org(roles, org_guid)
