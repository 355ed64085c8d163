"""runtime-configs (BOSH's addons for every deployment), and which ones a deployment used

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('runtime_configs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_runtime_configs_name', 'runtime_configs', ['name'])
    with op.batch_alter_table('deployments') as batch_op:
        batch_op.add_column(sa.Column('runtime_config_ids', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('deployments') as batch_op:
        batch_op.drop_column('runtime_config_ids')
    op.drop_index('ix_runtime_configs_name', table_name='runtime_configs')
    op.drop_table('runtime_configs')
