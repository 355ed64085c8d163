"""Bring the service tables of an older CC database up to date, at every start (idempotent),
in one transaction, as db.migrate does for apps:

- ``service_instances.space_guid``: instances from before orgs and spaces get one. An
  instance whose bindings all belong to apps of one space goes to that space (so the
  developers who use it keep managing it); any other goes to the default org's default space,
  where only admins and the roles given there reach it.
- ``service_bindings.syslog_drain_url``: the broker's drain for the app's logs (none for
  the bindings made before), and ``services.requires`` (the catalog's OSB ``requires``; a
  service registered before asked for nothing).
- instance names unique per space, not across the CC (unique_names.py: the old table's
  name-only UNIQUE is rebuilt away, then a unique index on ``(space_guid, name)``).
"""

from __future__ import annotations

from ..db import DEFAULT_SPACE_GUID, Database

# service_instances as it is now, for the rebuild of a table whose names were unique across the CC
INSTANCES_TABLE = """
CREATE TABLE TABLE_NAME (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan_guid TEXT NOT NULL REFERENCES service_plans(guid),
    operation_type TEXT NOT NULL,
    operation_state TEXT NOT NULL,
    operation_description TEXT NOT NULL DEFAULT '',
    broker_operation TEXT,
    dashboard_url TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    space_guid TEXT
)"""


def _columns(conn, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def migrate_services(db: Database) -> None:
    with db._tx() as c:
        if "space_guid" not in _columns(c, "service_instances"):
            c.execute("ALTER TABLE service_instances ADD COLUMN space_guid TEXT")
        c.execute("UPDATE service_instances SET space_guid = COALESCE("
                  "(SELECT MIN(a.space_guid) FROM service_bindings b JOIN apps a ON a.guid = b.app_guid "
                  " WHERE b.service_instance_guid = service_instances.guid "
                  " HAVING COUNT(DISTINCT a.space_guid) = 1), ?) WHERE space_guid IS NULL",
                  (DEFAULT_SPACE_GUID,))
        if "syslog_drain_url" not in _columns(c, "service_bindings"):
            c.execute("ALTER TABLE service_bindings ADD COLUMN syslog_drain_url TEXT")
        if "requires" not in _columns(c, "services"):
            c.execute("ALTER TABLE services ADD COLUMN requires TEXT NOT NULL DEFAULT '[]'")
    db.names_unique_per_space("service_instances", INSTANCES_TABLE, "service instance")
    with db._tx() as c:   # after the rebuild, which drops the old table's indexes
        c.execute("CREATE INDEX IF NOT EXISTS service_instances_space ON service_instances (space_guid)")
