"""alert order: the newest observation sent per alert of a subscription (a retried trigger never follows its resolve)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:10:00
"""

from alembic import op
import sqlalchemy as sa

from slm_shared.db import UTCDateTime


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_order",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("alert_key", sa.String(length=300), nullable=False),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("subscription_id", "alert_key", name="uq_alert_order_subscription_key"),
    )


def downgrade() -> None:
    op.drop_table("alert_order")
