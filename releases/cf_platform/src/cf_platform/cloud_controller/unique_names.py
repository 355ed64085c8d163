"""App and service instance names are unique per space, as in Cloud Foundry, and the database
says so too (a unique index on ``(space_guid, name)``), so two requests racing past the
API's check cannot both win.

Databases written before spaces held ``name TEXT NOT NULL UNIQUE`` (unique across the
whole CC). SQLite cannot drop a column's UNIQUE, so :func:`drop_global_name_unique` rebuilds
the table the way SQLite's documentation prescribes (foreign keys off, new table, copy,
drop, rename, ``foreign_key_check``, all in one transaction): bindings, routes and crashes
that point at the rows keep pointing at them. Such a database cannot hold two rows with one
name, so the index always fits it; a database that does hold duplicates (edited by hand)
stops the CC at start with :class:`DuplicateNames`, naming each duplicate, rather than
letting the API answer for one of two same-named apps at random.

Runs once at start, before the HTTP and NATS threads, under the Database's lock.
"""

from __future__ import annotations

import sqlite3


class DuplicateNames(RuntimeError):
    """The database holds two rows of one name in one space: the unique index cannot be made."""


def has_global_name_unique(conn: sqlite3.Connection, table: str) -> bool:
    """True when ``table`` still has the old UNIQUE constraint on ``name`` alone."""
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        # (seq, name, unique, origin, partial): origin "u" is a UNIQUE constraint of the table
        if index[2] and index[3] == "u":
            columns = [c[2] for c in conn.execute(f"PRAGMA index_info({index[1]})").fetchall()]
            if columns == ["name"]:
                return True
    return False


def drop_global_name_unique(conn: sqlite3.Connection, table: str, create_sql: str) -> bool:
    """Rebuild ``table`` from ``create_sql`` (its CREATE TABLE with ``TABLE_NAME`` for the
    name) keeping every row, when it has the old name-only UNIQUE. True when it rebuilt.
    ``conn`` must be in autocommit mode (no transaction open): foreign keys are switched off
    around the rebuild, which SQLite allows only outside a transaction."""
    if not has_global_name_unique(conn, table):
        return False
    rebuilt = f"{table}_rebuilt"
    conn.execute("PRAGMA foreign_keys=OFF")   # else DROP TABLE cascades into the referencing rows
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DROP TABLE IF EXISTS {rebuilt}")
            conn.execute(create_sql.replace("TABLE_NAME", rebuilt))
            new_columns = {row[1] for row in conn.execute(f"PRAGMA table_info({rebuilt})")}
            common = ", ".join(row[1] for row in conn.execute(f"PRAGMA table_info({table})")
                               if row[1] in new_columns)
            conn.execute(f"INSERT INTO {rebuilt} ({common}) SELECT {common} FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {rebuilt} RENAME TO {table}")
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"rebuilding {table} would leave {len(broken)} rows pointing at nothing "
                                   f"(first: table {broken[0][0]} row {broken[0][1]}); nothing was changed")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
    return True


def unique_per_space(conn: sqlite3.Connection, table: str, what: str) -> None:
    """The unique index on ``(space_guid, name)`` (idempotent); :class:`DuplicateNames`
    naming every duplicate when the rows do not allow it."""
    duplicates = conn.execute(f"SELECT space_guid, name, COUNT(*) FROM {table} "
                              f"GROUP BY space_guid, name HAVING COUNT(*) > 1 ORDER BY space_guid, name").fetchall()
    if duplicates:
        listed = "; ".join(f"{n} {what}s named {name!r} in space {space}" for space, name, n in duplicates)
        raise DuplicateNames(f"the CC database holds {what}s of one name in one space ({listed}): "
                             f"{what} names are unique per space; rename or delete the extra ones "
                             f"(table {table}) before starting this cloud controller")
    conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_space_name ON {table} (space_guid, name)")
