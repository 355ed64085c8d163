"""orphan disks: persistent disks kept after their instance or disk went away

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('orphan_disks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cid', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('deployment_name', sa.String(length=255), nullable=False),
    sa.Column('instance_name', sa.String(length=255), nullable=False),
    sa.Column('az', sa.String(length=255), nullable=True),
    sa.Column('orphaned_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cid')
    )


def downgrade() -> None:
    op.drop_table('orphan_disks')
