"""each activated version's payload: the objectives it carries, for reads as of an instant

Revision ID: 0004_inforce
Revises: 0003
Create Date: 2026-11-30 02:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_inforce"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_terms') as batch:
        batch.add_column(sa.Column('payload', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agreement_terms') as batch:
        batch.drop_column('payload')
