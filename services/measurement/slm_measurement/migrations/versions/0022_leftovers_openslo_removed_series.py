"""pulled series an OpenSLO deletion named before an apply created them, so that older apply does not create them

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 12:50:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openslo_removed_series",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("service_key", sa.String(length=64), nullable=False),
        sa.Column("indicator", sa.String(length=128), nullable=False),
        sa.Column("removed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "service_key", "indicator"),
    )


def downgrade() -> None:
    op.drop_table("openslo_removed_series")
