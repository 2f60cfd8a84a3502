"""terms in force: activation and end instants per version, credit terms, and measurement's refusal

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:10:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_versions') as batch:
        batch.add_column(sa.Column('credit_terms', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('activated_at', slm_shared.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('ended_at', slm_shared.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('agreements') as batch:
        batch.add_column(sa.Column('not_measured', sa.JSON(), nullable=True))
    # Versions put in force before this revision were activated when they came into force.
    op.execute("UPDATE agreement_versions SET activated_at = in_force_from WHERE in_force_from IS NOT NULL")
    op.execute(
        "UPDATE agreement_versions SET ended_at = in_force_to "
        "WHERE in_force_to IS NOT NULL AND status IN ('terminated', 'expired')"
    )


def downgrade() -> None:
    with op.batch_alter_table('agreements') as batch:
        batch.drop_column('not_measured')
    with op.batch_alter_table('agreement_versions') as batch:
        batch.drop_column('ended_at')
        batch.drop_column('activated_at')
        batch.drop_column('credit_terms')
