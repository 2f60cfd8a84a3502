"""agreement objectives: the burn-rate alert policy and maintenance windows copied from the offering's target

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:35:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreement_objectives") as batch:
        batch.add_column(sa.Column("alert_policy", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("maintenance_windows", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreement_objectives") as batch:
        batch.drop_column("maintenance_windows")
        batch.drop_column("alert_policy")
