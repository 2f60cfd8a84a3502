"""when an OpenSLO deletion remembered before its apply was consumed: what the API makes after it is not taken over;
whether a data source's Authorization came from an apply's variables (an apply naming none clears it)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 15:50:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("openslo_removed_series", "openslo_removed_data_sources"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("consumed_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("data_sources") as batch:
        batch.add_column(sa.Column("auth_from_env", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("data_sources") as batch:
        batch.drop_column("auth_from_env")
    for table in ("openslo_removed_series", "openslo_removed_data_sources"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("consumed_at")
