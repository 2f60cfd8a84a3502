"""notifications: an overdue action's chase (action id, reminders sent); external tickets: the change's status
as last reported and what it belongs to

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('action_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('reminders', sa.Integer(), nullable=False, server_default='0'))
        batch.create_index('ix_notifications_action_id', ['action_id'], unique=False)
    with op.batch_alter_table('external_tickets') as batch:
        batch.add_column(sa.Column('external_status', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('context', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('claim_key', sa.String(length=300), nullable=True))
        batch.create_index('ix_external_tickets_claim_key', ['claim_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('external_tickets') as batch:
        batch.drop_index('ix_external_tickets_claim_key')
        batch.drop_column('claim_key')
        batch.drop_column('context')
        batch.drop_column('external_status')
    with op.batch_alter_table('notifications') as batch:
        batch.drop_index('ix_notifications_action_id')
        batch.drop_column('reminders')
        batch.drop_column('action_id')
