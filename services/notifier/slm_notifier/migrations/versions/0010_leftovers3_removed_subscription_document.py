"""the deleted OpenSLO document a remembered deletion came from, for the reason a subscription is disabled with

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("openslo_removed_subscriptions") as batch:
        batch.add_column(sa.Column("document", sa.String(length=130), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("openslo_removed_subscriptions") as batch:
        batch.drop_column("document")
