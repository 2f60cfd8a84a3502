"""catalogue services whose OpenSLO Service document was deleted, taken back when it is applied again

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 15:30:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openslo_released_services",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("released_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "key"),
    )


def downgrade() -> None:
    op.drop_table("openslo_released_services")
