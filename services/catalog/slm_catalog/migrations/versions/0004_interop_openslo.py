"""OpenSLO documents as applied, for a lossless export

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 03:05:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'openslo_documents',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('api_version', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('created_at', slm_shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant', 'kind', 'name', name='uq_openslo_documents_kind_name'),
    )
    op.create_index('ix_openslo_documents_tenant', 'openslo_documents', ['tenant'])


def downgrade() -> None:
    op.drop_index('ix_openslo_documents_tenant', table_name='openslo_documents')
    op.drop_table('openslo_documents')
