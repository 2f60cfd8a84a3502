"""catalogue keys: the services and indicators the catalogue knows, for checking ingested series

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 02:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'catalog_keys',
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'kind', 'key'),
    )


def downgrade() -> None:
    op.drop_table('catalog_keys')
