"""slice tallies per span of hours, checked against a change count on each hour bucket

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hour_buckets", sa.Column("changes", sa.BigInteger(), server_default="1", nullable=False))
    # The cache is rebuilt from the minutes by the next evaluation of each objective.
    op.drop_table("slice_tallies")
    op.create_table(
        "slice_tallies",
        sa.Column("objective_row_id", sa.String(length=36), nullable=False),
        sa.Column("start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("good", sa.Double(), nullable=False),
        sa.Column("total", sa.Double(), nullable=False),
        sa.Column("marker", sa.BigInteger(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("objective_row_id", "start"),
    )


def downgrade() -> None:
    op.drop_table("slice_tallies")
    op.create_table(
        "slice_tallies",
        sa.Column("objective_row_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("indicator", sa.String(length=128), nullable=False),
        sa.Column("good", sa.Double(), nullable=False),
        sa.Column("total", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("objective_row_id", "day"),
    )
    with op.batch_alter_table("slice_tallies") as batch:
        batch.create_index("ix_slice_tallies_series", ["tenant", "service", "indicator", "day"], unique=False)
    with op.batch_alter_table("hour_buckets") as batch:
        batch.drop_column("changes")
