"""data sources stopped by the deletion of their OpenSLO document, and deletions consumed before their apply

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 15:10:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_sources") as batch:
        batch.add_column(sa.Column("stopped_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "openslo_removed_data_sources",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("removed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "name"),
    )


def downgrade() -> None:
    op.drop_table("openslo_removed_data_sources")
    with op.batch_alter_table("data_sources") as batch:
        batch.drop_column("stopped_at")
