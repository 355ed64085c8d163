"""resurrection rules (update-resurrection) and VM intents (VMs asked of a CPI, not yet saved)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resurrection_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deployment_name', sa.String(length=255), nullable=False),
    sa.Column('instance_group', sa.String(length=255), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('deployment_name', 'instance_group')
    )
    op.create_table('vm_intents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('cpi', sa.String(length=255), nullable=False, server_default='default'),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('deployment_name', sa.String(length=255), nullable=True),
    sa.Column('instance_name', sa.String(length=255), nullable=True),
    sa.Column('vm_cid', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agent_id')
    )


def downgrade() -> None:
    op.drop_table('vm_intents')
    op.drop_table('resurrection_rules')
