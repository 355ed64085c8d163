from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from bosh_py.director.db import head_revision, open_database
from bosh_py.director.models import Base, Task


def test_migrations_create_exactly_the_models_schema(db_url):
    """A model change without a migration fails here, before it fails on an operator's DB."""
    open_database(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            for table in Base.metadata.sorted_tables:
                migrated = {c["name"] for c in inspector.get_columns(table.name)}
                assert migrated == {c.name for c in table.columns}, table.name
            # and the same types, nullability, unique constraints and foreign keys
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_reopening_a_migrated_database_is_a_no_op(db_url):
    sessions = open_database(db_url)
    with sessions.begin() as session:
        session.add(Task(description="deploy"))
    sessions = open_database(db_url)
    with sessions() as session:
        assert [task.description for task in session.scalars(select(Task))] == ["deploy"]
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == head_revision()


def test_a_0001_database_upgrades_keeping_its_rows_and_gains_orphan_disks(db_url):
    """An operator's existing director DB (schema 0001) moves to 0002 at the next start."""
    from alembic import command

    from bosh_py.director.db import alembic_config
    from bosh_py.director.models import OrphanDisk

    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(text("INSERT INTO tasks (state, description, started_at) "
                                    "VALUES ('done', 'deploy', CURRENT_TIMESTAMP)"))
            assert "orphan_disks" not in inspect(connection).get_table_names()
    finally:
        engine.dispose()
    sessions = open_database(db_url)
    with sessions.begin() as session:
        assert [task.description for task in session.scalars(select(Task))] == ["deploy"]
        session.add(OrphanDisk(cid="disk-1", size=64, deployment_name="cf", instance_name="db/x"))
    with sessions() as session:
        assert session.scalar(select(OrphanDisk.cid)) == "disk-1"
