"""data sources (prometheus) and the PromQL series pulled from them

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:10:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'data_sources',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('auth_header', sa.String(length=4000), nullable=True),
        sa.Column('created_at', slm_shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant', 'name', name='uq_data_sources_name'),
    )
    op.create_index('ix_data_sources_tenant', 'data_sources', ['tenant'])
    op.create_table(
        'pulled_series',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('data_source_id', sa.String(length=36), nullable=False),
        sa.Column('service_key', sa.String(length=64), nullable=False),
        sa.Column('indicator', sa.String(length=128), nullable=False),
        sa.Column('good_query', sa.String(length=4000), nullable=True),
        sa.Column('total_query', sa.String(length=4000), nullable=True),
        sa.Column('value_query', sa.String(length=4000), nullable=True),
        sa.Column('step_seconds', sa.Integer(), nullable=False),
        sa.Column('covered_from', slm_shared.db.UTCDateTime(), nullable=True),
        sa.Column('pulled_until', slm_shared.db.UTCDateTime(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.String(length=2000), nullable=False),
        sa.Column('checked_at', slm_shared.db.UTCDateTime(), nullable=True),
        sa.Column('created_at', slm_shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant', 'service_key', 'indicator', name='uq_pulled_series_series'),
    )
    op.create_index('ix_pulled_series_tenant', 'pulled_series', ['tenant'])
    op.create_index('ix_pulled_series_data_source_id', 'pulled_series', ['data_source_id'])


def downgrade() -> None:
    op.drop_index('ix_pulled_series_data_source_id', table_name='pulled_series')
    op.drop_index('ix_pulled_series_tenant', table_name='pulled_series')
    op.drop_table('pulled_series')
    op.drop_index('ix_data_sources_tenant', table_name='data_sources')
    op.drop_table('data_sources')
