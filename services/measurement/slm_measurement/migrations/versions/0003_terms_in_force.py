"""terms in force: each version's activation instant and credit terms; each objective's at-risk rule

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:20:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_terms') as batch:
        batch.add_column(sa.Column('activated_at', slm_shared.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('credit_terms', sa.JSON(), nullable=True))
    with op.batch_alter_table('objectives') as batch:
        batch.add_column(sa.Column('at_risk_rule', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('objectives') as batch:
        batch.drop_column('at_risk_rule')
    with op.batch_alter_table('agreement_terms') as batch:
        batch.drop_column('credit_terms')
        batch.drop_column('activated_at')
