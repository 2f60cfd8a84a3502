"""party names, so that reports and review packs name customers

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 03:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'party_names',
        sa.Column('tenant', sa.String(length=64), primary_key=True),
        sa.Column('party_id', sa.String(length=64), primary_key=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('party_names')
