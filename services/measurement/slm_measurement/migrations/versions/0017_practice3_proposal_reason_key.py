"""portfolio proposals: the reason as a message key and parameters, rendered in the reader's language

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('portfolio_proposals') as batch:
        batch.add_column(sa.Column('reason_key', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('reason_params', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('portfolio_proposals') as batch:
        batch.drop_column('reason_params')
        batch.drop_column('reason_key')
