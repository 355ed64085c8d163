"""Runtime-configs on the director's side: stored by name, newest of each name in force.

A runtime-config is checked whole before it is stored (a bad one changes nothing). Nothing
changes on any VM until a deployment is deployed again; the deploy records which versions
it used, so recreate and resurrection keep using those.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bosh_py.director.models import Event, RuntimeConfig
from bosh_py.director.services import Director
from bosh_py.manifest import load_yaml
from bosh_py.manifest.addons import NamedRuntimeConfig, parse_runtime_config

DEFAULT_NAME = "default"


def _named(row: RuntimeConfig) -> NamedRuntimeConfig:
    return NamedRuntimeConfig(row.name, load_yaml(row.content, f"runtime-config '{row.name}'") or {})


def update_runtime_config(director: Director, name: str, text: str) -> dict:
    """Validate and store as the newest version of ``name``; unchanged text stores nothing."""
    source = f"runtime-config '{name}'"
    parse_runtime_config(load_yaml(text, source) or {}, source)
    with director.sessions.begin() as session:
        latest = session.scalars(select(RuntimeConfig).where(RuntimeConfig.name == name)
                                 .order_by(RuntimeConfig.id.desc())).first()
        if latest is not None and latest.content == text:
            return {"id": latest.id, "name": name, "changed": False}
        row = RuntimeConfig(name=name, content=text)
        session.add(row)
        session.flush()
        session.add(Event(action="update", object_type="runtime-config", object_name=name))
        return {"id": row.id, "name": name, "changed": True}


def rows_in_force(session: Session) -> list[RuntimeConfig]:
    """The newest version of each name, by name."""
    newest = select(func.max(RuntimeConfig.id)).group_by(RuntimeConfig.name)
    return list(session.scalars(select(RuntimeConfig).where(RuntimeConfig.id.in_(newest))
                                .order_by(RuntimeConfig.name)))


def runtime_configs_for_deploy(director: Director, ids: Sequence[int] | None) -> tuple[list[NamedRuntimeConfig], list[int]]:
    """The runtime-configs a deploy applies: those in force, or exactly ``ids`` (what a
    deployment was last deployed with, for recreate and the resurrector)."""
    with director.sessions() as session:
        if ids is None:
            rows = rows_in_force(session)
        else:
            rows = list(session.scalars(select(RuntimeConfig).where(RuntimeConfig.id.in_(list(ids)))
                                        .order_by(RuntimeConfig.name)))
        return [_named(row) for row in rows], [row.id for row in rows]


def runtime_configs_json(director: Director, name: str | None) -> list[dict]:
    with director.sessions() as session:
        return [{"id": row.id, "type": "runtime", "name": row.name, "content": row.content}
                for row in rows_in_force(session) if name is None or row.name == name]
