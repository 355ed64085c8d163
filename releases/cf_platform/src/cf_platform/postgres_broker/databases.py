"""What a service instance and a binding are in PostgreSQL.

Instance ``I``: a database ``cf_I`` owned by a role ``cf_I_owner`` that cannot log in, with
CONNECT revoked from PUBLIC, so only its own bindings reach it. Binding ``B``: a login role
``cf_B`` with a generated password, member of ``cf_I_owner`` (so it may do all the owner may,
and, acting as that role, owns what it creates together with the other bindings). Unbinding hands what the role owns to the owner
role, ends its sessions and drops it: its password stops working, the data stays.
Deprovisioning drops the database (ending its sessions) and the owner role.

Ids (from the platform) must be letters, digits, '-' and '_' and are quoted anyway.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .psql import Psql
from .scram import scram_verifier

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")


class InvalidId(ValueError):
    pass


class Exists(Exception):
    pass


class Missing(Exception):
    pass


def _check(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidId(f"the {kind} id must be 1-50 letters, digits, '-' and '_'")
    return value


def database_name(instance_id: str) -> str:
    return "cf_" + _check("instance", instance_id)


def owner_role(instance_id: str) -> str:
    return database_name(instance_id) + "_owner"


def binding_role(binding_id: str) -> str:
    return "cf_" + _check("binding", binding_id)


@dataclass(frozen=True)
class Credentials:
    host: str
    port: int
    database: str
    username: str
    password: str

    def as_dict(self) -> dict:
        return {"hostname": self.host, "port": self.port, "name": self.database, "username": self.username,
                "password": self.password,
                "uri": f"postgres://{self.username}:{self.password}@{self.host}:{self.port}/{self.database}"}


class Databases:
    def __init__(self, psql: Psql, credentials_host: str, port: int) -> None:
        self.psql = psql
        self.credentials_host = credentials_host
        self.port = port

    def exists(self, instance_id: str) -> bool:
        return bool(self.psql.run("SELECT 1 FROM pg_database WHERE datname = :'db';",
                                  {"db": database_name(instance_id)}))

    def _role_exists(self, role: str) -> bool:
        return bool(self.psql.run("SELECT 1 FROM pg_roles WHERE rolname = :'role';", {"role": role}))

    def create(self, instance_id: str) -> None:
        db, owner = database_name(instance_id), owner_role(instance_id)
        if self.exists(instance_id):
            raise Exists(db)
        variables = {"db": db, "owner": owner}
        if not self._role_exists(owner):
            self.psql.run('CREATE ROLE :"owner" NOLOGIN;', variables)
        try:
            self.psql.run('CREATE DATABASE :"db" OWNER :"owner";\n'
                          'REVOKE ALL ON DATABASE :"db" FROM PUBLIC;', variables)
        except Exception:
            self.psql.run('DROP DATABASE IF EXISTS :"db" WITH (FORCE);\nDROP ROLE IF EXISTS :"owner";', variables)
            raise

    def drop(self, instance_id: str) -> None:
        db, owner = database_name(instance_id), owner_role(instance_id)
        if not self.exists(instance_id):
            raise Missing(db)
        members = self.psql.run("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                                "JOIN pg_roles o ON o.oid = m.roleid WHERE o.rolname = :'owner';", {"owner": owner})
        self.psql.run('DROP DATABASE :"db" WITH (FORCE);', {"db": db})
        for member in members:   # bindings the platform did not unbind first
            self._drop_login(member)
        self.psql.run('DROP ROLE IF EXISTS :"owner";', {"owner": owner})

    def bind(self, instance_id: str, binding_id: str) -> Credentials:
        db, owner, role = database_name(instance_id), owner_role(instance_id), binding_role(binding_id)
        if not self.exists(instance_id):
            raise Missing(db)
        if self._role_exists(role):
            raise Exists(role)
        password = secrets.token_urlsafe(24)
        # CONNECT on the database comes with membership of its owner role; each session acts
        # as the owner role, so what one binding creates, the next one can use
        self.psql.run('CREATE ROLE :"role" LOGIN PASSWORD :\'verifier\' IN ROLE :"owner";\n'
                      'ALTER ROLE :"role" IN DATABASE :"db" SET role = :\'owner\';',
                      {"role": role, "owner": owner, "db": db, "verifier": scram_verifier(password)})
        return Credentials(self.credentials_host, self.port, db, role, password)

    def unbind(self, instance_id: str, binding_id: str) -> None:
        db, owner, role = database_name(instance_id), owner_role(instance_id), binding_role(binding_id)
        if not self._role_exists(role):
            raise Missing(role)
        if self.exists(instance_id):
            self.psql.run('REASSIGN OWNED BY :"role" TO :"owner";\nDROP OWNED BY :"role";',
                          {"role": role, "owner": owner}, database=db)
        self._drop_login(role)

    def _drop_login(self, role: str) -> None:
        self.psql.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :'role';\n"
                      'DROP ROLE IF EXISTS :"role";', {"role": role})
