"""items a worker could not process, each retried alone with a backoff

Revision ID: 0005_inforce
Revises: 0004_inforce
Create Date: 2026-11-30 02:45:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0005_inforce"
down_revision = "0004_inforce"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'item_failures',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('item_id', sa.String(length=200), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('first_failed_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_failed_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('retry_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'item_id'),
    )
    op.create_index('ix_item_failures_tenant', 'item_failures', ['tenant'])


def downgrade() -> None:
    op.drop_index('ix_item_failures_tenant', table_name='item_failures')
    op.drop_table('item_failures')
