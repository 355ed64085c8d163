"""The tenancy tables (db.py's schema) as plain records: orgs, spaces, users and roles.

Runs on the HTTP threads, through the Database's one connection and lock.
"""

from __future__ import annotations

import sqlite3

from ..db import Database, new_guid, now_iso
from ..models import (
    ORG_MANAGER,
    ORG_ROLES,
    ORG_USER,
    SPACE_ROLES,
    Organization,
    Space,
    User,
)
from .permissions import Roles


class NameTaken(Exception):
    pass


class TenancyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- organizations --------------------------------------------------------------------

    def create_org(self, name: str) -> Organization:
        org = Organization(new_guid(), name, now_iso())
        try:
            with self.db._tx() as c:
                c.execute("INSERT INTO organizations (guid, name, created_at) VALUES (?, ?, ?)",
                          (org.guid, org.name, org.created_at))
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        return org

    def org(self, guid: str) -> Organization | None:
        rows = self.db._query("SELECT * FROM organizations WHERE guid = ?", (guid,))
        return Organization(**dict(rows[0])) if rows else None

    def orgs(self) -> list[Organization]:
        return [Organization(**dict(r)) for r in self.db._query("SELECT * FROM organizations ORDER BY name")]

    # -- spaces ---------------------------------------------------------------------------

    def create_space(self, name: str, org_guid: str) -> Space:
        space = Space(new_guid(), name, org_guid, now_iso())
        try:
            with self.db._tx() as c:
                c.execute("INSERT INTO spaces (guid, name, organization_guid, created_at) VALUES (?, ?, ?, ?)",
                          (space.guid, space.name, space.organization_guid, space.created_at))
        except sqlite3.IntegrityError:
            raise NameTaken(name) from None
        return space

    def space(self, guid: str) -> Space | None:
        rows = self.db._query("SELECT * FROM spaces WHERE guid = ?", (guid,))
        return Space(**dict(rows[0])) if rows else None

    def spaces(self, org_guid: str | None = None) -> list[Space]:
        if org_guid is None:
            rows = self.db._query("SELECT * FROM spaces ORDER BY name")
        else:
            rows = self.db._query("SELECT * FROM spaces WHERE organization_guid = ? ORDER BY name", (org_guid,))
        return [Space(**dict(r)) for r in rows]

    def delete_space(self, guid: str) -> bool:
        """Remove an empty space and its roles; False (nothing removed) when an app or a
        service instance is still in it, e.g. one made while its contents were deleted."""
        with self.db._tx() as c:
            if c.execute("SELECT 1 FROM apps WHERE space_guid = ? UNION ALL "
                         "SELECT 1 FROM service_instances WHERE space_guid = ? LIMIT 1", (guid, guid)).fetchone():
                return False
            c.execute("DELETE FROM spaces WHERE guid = ?", (guid,))   # its roles go with it (ON DELETE CASCADE)
        return True

    def delete_org(self, guid: str) -> bool:
        """Remove an org without spaces, and its roles; False when a space is still in it."""
        with self.db._tx() as c:
            if c.execute("SELECT 1 FROM spaces WHERE organization_guid = ? LIMIT 1", (guid,)).fetchone():
                return False
            c.execute("DELETE FROM organizations WHERE guid = ?", (guid,))
        return True

    # -- users ----------------------------------------------------------------------------

    def remember_user(self, guid: str, username: str) -> User:
        """Record (or rename) a UAA user. A name held by another guid (a user deleted and
        made again in the UAA) moves to the new guid; the old guid keeps no name."""
        with self.db._tx() as c:
            c.execute("DELETE FROM users WHERE username = ? AND guid != ?", (username, guid))
            c.execute("INSERT INTO users (guid, username, created_at) VALUES (?, ?, ?) "
                      "ON CONFLICT (guid) DO UPDATE SET username = excluded.username", (guid, username, now_iso()))
        user = self.user(guid)
        assert user is not None
        return user

    def user(self, guid: str) -> User | None:
        rows = self.db._query("SELECT * FROM users WHERE guid = ?", (guid,))
        return User(**dict(rows[0])) if rows else None

    def user_by_name(self, username: str) -> User | None:
        rows = self.db._query("SELECT * FROM users WHERE username = ?", (username,))
        return User(**dict(rows[0])) if rows else None

    # -- roles ----------------------------------------------------------------------------

    def add_org_role(self, org_guid: str, user_guid: str, role: str) -> None:
        assert role in ORG_ROLES
        with self.db._tx() as c:
            c.execute("INSERT OR IGNORE INTO org_roles (organization_guid, user_guid, role) VALUES (?, ?, ?)",
                      (org_guid, user_guid, role))
            if role != ORG_USER:   # every role in an org makes its holder a member, as in CF
                c.execute("INSERT OR IGNORE INTO org_roles (organization_guid, user_guid, role) VALUES (?, ?, ?)",
                          (org_guid, user_guid, ORG_USER))

    def add_space_role(self, space: Space, user_guid: str, role: str) -> None:
        assert role in SPACE_ROLES
        with self.db._tx() as c:
            c.execute("INSERT OR IGNORE INTO org_roles (organization_guid, user_guid, role) VALUES (?, ?, ?)",
                      (space.organization_guid, user_guid, ORG_USER))
            c.execute("INSERT OR IGNORE INTO space_roles (space_guid, user_guid, role) VALUES (?, ?, ?)",
                      (space.guid, user_guid, role))

    def role_holders(self, kind: str, guid: str, role: str) -> list[User]:
        """The users holding ``role`` in an org (kind ``org``) or a space (``space``)."""
        table, column = ("org_roles", "organization_guid") if kind == "org" else ("space_roles", "space_guid")
        rows = self.db._query(f"SELECT u.* FROM users u JOIN {table} r ON r.user_guid = u.guid "
                              f"WHERE r.{column} = ? AND r.role = ? ORDER BY u.username", (guid, role))
        return [User(**dict(r)) for r in rows]

    def roles_of(self, user_guid: str, admin: bool) -> Roles:
        """A snapshot of one user's roles, for permissions.py."""
        if admin:
            return Roles(admin=True)
        org_rows = self.db._query("SELECT organization_guid, role FROM org_roles WHERE user_guid = ?", (user_guid,))
        space_rows = self.db._query("SELECT r.space_guid, r.role, s.organization_guid FROM space_roles r "
                                    "JOIN spaces s ON s.guid = r.space_guid WHERE r.user_guid = ?", (user_guid,))
        return Roles(
            managed_orgs=frozenset(r[0] for r in org_rows if r[1] == ORG_MANAGER),
            member_orgs=frozenset(r[0] for r in org_rows) | frozenset(r[2] for r in space_rows),
            developer_spaces=frozenset(r[0] for r in space_rows if r[1] == "developer"),
            auditor_spaces=frozenset(r[0] for r in space_rows if r[1] == "auditor"),
        )
