from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from bosh_py.director.db import open_database
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
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == "0001"
