from sqlalchemy import create_engine, inspect

from bosh_py.director.db import open_database
from bosh_py.director.models import Base


def test_migrations_create_exactly_the_models_schema(tmp_path):
    """A model change without a migration fails here, before it fails on an operator's DB."""
    url = f"sqlite:///{tmp_path / 'director.db'}"
    open_database(url)
    inspector = inspect(create_engine(url))
    for table in Base.metadata.sorted_tables:
        migrated = {c["name"] for c in inspector.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name


def test_reopening_a_migrated_database_is_a_no_op(tmp_path):
    url = f"sqlite:///{tmp_path / 'director.db'}"
    open_database(url)
    open_database(url)
