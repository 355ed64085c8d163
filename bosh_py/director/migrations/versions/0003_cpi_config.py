"""several CPIs at once: the cpi-config, and which CPI made each VM, disk and stemcell copy

Existing rows were made by the director's own CPI, named ``default``. A stemcell becomes one
row per CPI that holds a copy, so its unique key gains the ``cpi`` column.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

DEFAULT_CPI = 'default'
# SQLite reports the old unnamed UNIQUE (name, version) with no name: batch mode names it
# by this convention so it can be dropped while the table is rebuilt.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _cpi_column() -> sa.Column:
    return sa.Column('cpi', sa.String(length=255), nullable=False, server_default=DEFAULT_CPI)


def _stemcell_unique_name() -> str:
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints('stemcells'):
        if sorted(constraint['column_names']) == ['name', 'version']:
            return constraint['name'] or 'uq_stemcells_name'
    raise RuntimeError("stemcells has no UNIQUE (name, version) to replace")


def upgrade() -> None:
    op.create_table('cpi_configs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    for table in ('instances', 'persistent_disks', 'orphan_disks'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(_cpi_column())
    old_unique = _stemcell_unique_name()
    with op.batch_alter_table('stemcells', naming_convention=NAMING) as batch_op:
        batch_op.add_column(_cpi_column())
        batch_op.drop_constraint(old_unique, type_='unique')
        batch_op.create_unique_constraint('uq_stemcells_name_version_cpi', ['name', 'version', 'cpi'])


def downgrade() -> None:
    with op.batch_alter_table('stemcells') as batch_op:
        batch_op.drop_constraint('uq_stemcells_name_version_cpi', type_='unique')
        batch_op.drop_column('cpi')
        batch_op.create_unique_constraint('uq_stemcells_name', ['name', 'version'])
    for table in ('orphan_disks', 'persistent_disks', 'instances'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('cpi')
    op.drop_table('cpi_configs')
