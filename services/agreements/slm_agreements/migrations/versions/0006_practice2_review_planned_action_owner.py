"""reviews: whether the cycle planned a review or it was scheduled on a chosen date; the contact owning an action

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reviews') as batch:
        batch.add_column(sa.Column('planned', sa.String(length=16), nullable=False, server_default='cycle'))
    with op.batch_alter_table('improvement_actions') as batch:
        batch.add_column(sa.Column('owner_email', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('owner_party_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('change_request_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('change_status', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.drop_column('change_status')
        batch.drop_column('change_request_id')
        batch.drop_column('owner_party_id')
        batch.drop_column('owner_email')
    with op.batch_alter_table('reviews') as batch:
        batch.drop_column('planned')
