"""when a remembered OpenSLO deletion was consumed: a subscription made over the API after it is not taken over

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:00:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("openslo_removed_subscriptions") as batch:
        batch.add_column(sa.Column("consumed_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("openslo_removed_subscriptions") as batch:
        batch.drop_column("consumed_at")
