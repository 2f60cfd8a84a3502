"""the dependency graph measurement keeps for chain diagnosis and warnings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 03:05:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'service_dependencies',
        sa.Column('tenant', sa.String(length=64), primary_key=True),
        sa.Column('service_key', sa.String(length=64), primary_key=True),
        sa.Column('supporting_key', sa.String(length=64), primary_key=True),
        sa.Column('added_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('service_dependencies')
