"""data sources and pulled series: the time of the OpenSLO apply that last set one, so an older apply changes nothing

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 10:20:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("data_sources", "pulled_series"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("applied_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("pulled_series", "data_sources"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("applied_at")
