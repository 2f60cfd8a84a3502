"""subscriptions: the time of the OpenSLO apply that last set one, so an older apply changes nothing

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:20:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("applied_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("applied_at")
