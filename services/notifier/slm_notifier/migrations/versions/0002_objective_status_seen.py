"""The latest status change told per objective, so one that arrives out of order is not announced.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import slm_shared.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objective_status_seen",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("objective_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("observed_at", slm_shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "agreement_id", "objective_id", name="uq_objective_status_seen_objective"),
    )


def downgrade() -> None:
    op.drop_table("objective_status_seen")
