"""Migration 0003 (several CPIs): a director DB made by the previous version (schema 0002)
upgrades at the next start; every existing VM, disk and stemcell row belongs to the
director's own CPI (``default``) and keeps working; a stemcell may then have one row per CPI."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from bosh_py.director.db import alembic_config, head_revision, open_database
from bosh_py.director.models import (
    DEFAULT_CPI,
    Instance,
    OrphanDisk,
    PersistentDisk,
    Stemcell,
)
from bosh_py.director.planner import resolve_stemcell

ROWS_0002 = [  # no explicit ids: PostgreSQL's sequences must hand them out, as in real use
    ("INSERT INTO stemcells (name, version, operating_system, cid, created_at) "
     "VALUES ('bosh-py-local', '1.1', 'debian-bookworm', 'stemcell-old', CURRENT_TIMESTAMP)"),
    "INSERT INTO deployments (name, manifest_text) VALUES ('cf', '')",
    ("INSERT INTO instances (deployment_id, \"group\", \"index\", uuid, bootstrap, state, vm_cid, agent_id, "
     "vm_metadata, applied_spec) SELECT id, 'nats', 0, 'uuid-1', true, 'started', 'vm-old', 'agent-1', '{}', '{}' "
     "FROM deployments WHERE name = 'cf'"),
    ("INSERT INTO persistent_disks (instance_id, cid, size, active) SELECT id, 'disk-old', 64, true "
     "FROM instances WHERE uuid = 'uuid-1'"),
    ("INSERT INTO orphan_disks (cid, size, deployment_name, instance_name, orphaned_at) "
     "VALUES ('disk-orphan', 64, 'cf', 'nats/uuid-0', CURRENT_TIMESTAMP)"),
]


def make_0002_database(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            assert "cpi" not in {c["name"] for c in inspect(connection).get_columns("instances")}
            for statement in ROWS_0002:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_a_0002_database_upgrades_and_its_rows_belong_to_the_directors_own_cpi(db_url):
    make_0002_database(db_url)
    sessions = open_database(db_url)
    with sessions() as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == head_revision()
        instance = session.scalars(select(Instance)).one()
        assert (instance.vm_cid, instance.cpi) == ("vm-old", DEFAULT_CPI)
        assert [(d.cid, d.cpi) for d in session.scalars(select(PersistentDisk))] == [("disk-old", DEFAULT_CPI)]
        assert [(d.cid, d.cpi) for d in session.scalars(select(OrphanDisk))] == [("disk-orphan", DEFAULT_CPI)]
        # a deploy planned on the upgraded DB finds the old stemcell in the director's own CPI
        stemcell = resolve_stemcell(session, {"stemcells": [{"alias": "default", "os": "debian-bookworm"}]},
                                    "default", "instance_groups/nats/stemcell")
        assert (stemcell.version, stemcell.cid_in(DEFAULT_CPI)) == ("1.1", "stemcell-old")


def test_after_the_upgrade_a_stemcell_has_one_row_per_cpi_and_no_more(db_url):
    make_0002_database(db_url)
    sessions = open_database(db_url)
    with sessions.begin() as session:
        session.add(Stemcell(name="bosh-py-local", version="1.1", operating_system="debian-bookworm",
                             cid="stemcell-in-a", cpi="local-a"))
    with sessions() as session:
        assert sorted((s.cpi, s.cid) for s in session.scalars(select(Stemcell))) == \
            [("default", "stemcell-old"), ("local-a", "stemcell-in-a")]
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Stemcell(name="bosh-py-local", version="1.1", operating_system="debian-bookworm",
                             cid="stemcell-twice", cpi="local-a"))
