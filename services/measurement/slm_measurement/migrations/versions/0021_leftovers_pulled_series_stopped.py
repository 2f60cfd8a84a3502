"""pulled series: when the OpenSLO document that wired one was deleted (pulling stops, its data stays)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 12:20:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pulled_series") as batch:
        batch.add_column(sa.Column("stopped_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pulled_series") as batch:
        batch.drop_column("stopped_at")
