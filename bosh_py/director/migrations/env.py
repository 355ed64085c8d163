"""Alembic environment: the director runs migrations itself at start (see db.py)."""

from alembic import context

from bosh_py.director.models import Base

config = context.config
connection = config.attributes.get("connection")


def run() -> None:
    if connection is None:
        raise RuntimeError("bosh-py migrations run from bosh_py.director.db.migrate()")
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
