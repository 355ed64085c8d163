"""Running SQL through Debian's ``psql`` client.

Why psql: the broker's VM has the stemcell's python3 (stdlib only) and Debian's
postgresql-client; no driver is needed. Values never enter the SQL text: each is passed as
a psql variable (``-v name=value``) and the script refers to it as ``:"name"`` (quoted as an
identifier) or ``:'name'`` (quoted as a literal), which psql escapes itself. Connection
settings, the admin password included, go through the environment (PGPASSWORD), which
other users of the machine cannot read, not through argv.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from .config import PostgresTarget


class PsqlError(Exception):
    pass


@dataclass(frozen=True)
class Psql:
    target: PostgresTarget

    def run(self, sql: str, variables: dict[str, str] | None = None, database: str | None = None) -> list[str]:
        """Run ``sql`` (stops at the first error); returns the output rows, one per line."""
        t = self.target
        args = [t.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database or t.admin_database]
        for name, value in (variables or {}).items():
            if "\n" in value or "\x00" in value:
                raise PsqlError(f"psql variable {name} holds a line break")
            args += ["-v", f"{name}={value}"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGHOST": t.host, "PGPORT": str(t.port),
               "PGUSER": t.admin_user, "PGCONNECT_TIMEOUT": str(max(1, int(t.timeout))), "LC_ALL": "C.UTF-8",
               "PGAPPNAME": "postgres_broker"}
        if t.admin_password:
            env["PGPASSWORD"] = t.admin_password
        try:
            result = subprocess.run(args + ["-f", "-"], input=sql, capture_output=True, text=True, env=env,
                                    timeout=t.timeout, check=False)
        except FileNotFoundError:
            raise PsqlError(f"the PostgreSQL client {t.psql!r} is not installed") from None
        except subprocess.TimeoutExpired:
            raise PsqlError(f"psql did not finish within {t.timeout:g} s") from None
        if result.returncode != 0:
            raise PsqlError(_first_error(result.stderr) or f"psql exited with {result.returncode}")
        return [line for line in result.stdout.splitlines() if line]


def _first_error(stderr: str) -> str:
    """psql's ``ERROR:`` line only: the context lines after it may quote the statement."""
    for line in stderr.splitlines():
        if "ERROR:" in line or "FATAL:" in line or "could not connect" in line:
            return line.split("ERROR:", 1)[-1].split("FATAL:", 1)[-1].strip()
    return ""
