"""actions seen: the newest revision of each improvement action, so a late overdue opens no chase

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00
"""
from alembic import op
import sqlalchemy as sa

import slm_shared.db


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'actions_seen',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('action_id', sa.String(length=64), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('due_on', sa.String(length=10), nullable=False),
        sa.Column('updated_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'action_id'),
    )


def downgrade() -> None:
    op.drop_table('actions_seen')
