"""Users, groups and memberships in SQLite (``/var/vcap/store/uaa`` on a VM: the persistent
disk, so users survive a recreate). One connection behind a lock: the HTTP server's threads
share it, and each call is one short transaction.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  email TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created REAL NOT NULL,
  last_modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS group_members (
  group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, user_id)
);
"""


@dataclass(frozen=True)
class User:
    id: str
    user_name: str
    email: str
    password_hash: str
    active: bool
    created: float
    last_modified: float


@dataclass(frozen=True)
class Group:
    id: str
    display_name: str


class Conflict(Exception):
    """A user name that exists already."""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)
        path.chmod(0o600)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def user_count(self) -> int:
        row = self._one("SELECT COUNT(*) FROM users", ())
        return int(row[0]) if row else 0

    # users
    def user_by_name(self, user_name: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE user_name = ?", (user_name,))
        return User(*row[:4], bool(row[4]), *row[5:]) if row else None

    def user_by_id(self, user_id: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE id = ?", (user_id,))
        return User(*row[:4], bool(row[4]), *row[5:]) if row else None

    def create_user(self, user_name: str, email: str, password_hash: str, active: bool = True) -> User:
        now = time.time()
        user = User(str(uuid.uuid4()), user_name, email, password_hash, active, now, now)
        with self._lock:
            try:
                self._db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (user.id, user_name, email, password_hash, int(active), now, now))
            except sqlite3.IntegrityError:
                raise Conflict(user_name) from None
        return user

    def update_user(self, user_id: str, *, password_hash: str | None = None,
                    active: bool | None = None, email: str | None = None) -> None:
        sets, args = ["last_modified = ?"], [time.time()]
        for column, value in (("password_hash", password_hash), ("email", email)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if active is not None:
            sets.append("active = ?")
            args.append(int(active))
        with self._lock:
            self._db.execute(f"UPDATE users SET {', '.join(sets)} WHERE id = ?", (*args, user_id))

    def delete_user(self, user_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 1

    # groups
    def ensure_group(self, display_name: str) -> Group:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO groups VALUES (?, ?)", (str(uuid.uuid4()), display_name))
            row = self._db.execute("SELECT id, display_name FROM groups WHERE display_name = ?",
                                   (display_name,)).fetchone()
        return Group(*row)

    def group_by_name(self, display_name: str) -> Group | None:
        row = self._one("SELECT id, display_name FROM groups WHERE display_name = ?", (display_name,))
        return Group(*row) if row else None

    def group_by_id(self, group_id: str) -> Group | None:
        row = self._one("SELECT id, display_name FROM groups WHERE id = ?", (group_id,))
        return Group(*row) if row else None

    def add_member(self, group_id: str, user_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO group_members VALUES (?, ?)", (group_id, user_id))

    def remove_member(self, group_id: str, user_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM group_members WHERE group_id = ? AND user_id = ?",
                                    (group_id, user_id)).rowcount == 1

    def groups_of(self, user_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT g.display_name FROM groups g JOIN group_members m ON m.group_id = g.id "
                "WHERE m.user_id = ? ORDER BY g.display_name", (user_id,)).fetchall()
        return [r[0] for r in rows]

    def members_of(self, group_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id",
                                    (group_id,)).fetchall()
        return [r[0] for r in rows]
