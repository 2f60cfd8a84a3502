"""observation terms and the measured scope of an agreement version

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_versions') as batch:
        batch.add_column(sa.Column('observation_terms', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('measured_scope', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agreement_versions') as batch:
        batch.drop_column('measured_scope')
        batch.drop_column('observation_terms')
