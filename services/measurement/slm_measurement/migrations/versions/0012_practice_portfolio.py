"""portfolio: catalogue services by key, reviews due, drafted proposals; chain risks of each version

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 03:20:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_terms') as batch:
        batch.add_column(sa.Column('risks', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table(
        'catalog_services',
        sa.Column('tenant', sa.String(length=64), primary_key=True),
        sa.Column('service_key', sa.String(length=64), primary_key=True),
        sa.Column('service_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('lifecycle', sa.String(length=16), nullable=False),
    )
    op.create_table(
        'reviews_due',
        sa.Column('tenant', sa.String(length=64), primary_key=True),
        sa.Column('review_id', sa.String(length=64), primary_key=True),
        sa.Column('agreement_id', sa.String(length=64), nullable=False),
        sa.Column('agreement_name', sa.String(length=200), nullable=False),
        sa.Column('service_key', sa.String(length=64), nullable=False),
        sa.Column('consumer_party_id', sa.String(length=64), nullable=True),
        sa.Column('due_on', sa.String(length=10), nullable=False),
        sa.Column('held', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'portfolio_proposals',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('agreement_id', sa.String(length=64), nullable=False),
        sa.Column('agreement_name', sa.String(length=200), nullable=False),
        sa.Column('objective_id', sa.String(length=64), nullable=False),
        sa.Column('service_key', sa.String(length=64), nullable=False),
        sa.Column('consumer_party_id', sa.String(length=64), nullable=True),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_at', slm_shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.String(length=200), nullable=True),
        sa.UniqueConstraint('tenant', 'agreement_id', 'objective_id', 'kind', 'period', name='uq_portfolio_proposal'),
    )
    op.create_index('ix_portfolio_proposals_tenant', 'portfolio_proposals', ['tenant'])


def downgrade() -> None:
    op.drop_index('ix_portfolio_proposals_tenant', table_name='portfolio_proposals')
    op.drop_table('portfolio_proposals')
    op.drop_table('reviews_due')
    op.drop_table('catalog_services')
    with op.batch_alter_table('agreement_terms') as batch:
        batch.drop_column('risks')
