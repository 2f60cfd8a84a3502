"""bucket keys with time before scope: a range of one series is one index seek, whatever history is stored

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SERIES = ["tenant", "service", "indicator"]
COUNTS = [("minute_buckets", "minute"), ("hour_buckets", "hour"), ("day_buckets", "day")]
BINS = [("minute_value_bins", "minute"), ("hour_value_bins", "hour"), ("day_value_bins", "day")]


def _key(index: str, *, time_first: bool, bins: bool) -> list[str]:
    middle = [index, "scope"] if time_first else ["scope", index]
    return SERIES + middle + (["bin"] if bins else [])


def _columns(index: str, bins: bool) -> list[sa.Column]:
    columns = [
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("indicator", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column(index, sa.BigInteger(), autoincrement=False, nullable=False),
    ]
    if bins:
        columns += [
            sa.Column("bin", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("samples", sa.Double(), nullable=False),
        ]
    else:
        columns += [sa.Column("good", sa.Double(), nullable=False), sa.Column("total", sa.Double(), nullable=False)]
    return columns


def _rekey(table: str, index: str, *, bins: bool, time_first: bool) -> None:
    key = _key(index, time_first=time_first, bins=bins)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({', '.join(key)})")
        return
    # SQLite cannot change a primary key in place: copy into a table with the new key.
    names = ", ".join(c.name for c in _columns(index, bins))
    op.create_table(f"{table}_rekeyed", *_columns(index, bins), sa.PrimaryKeyConstraint(*key))
    op.execute(f"INSERT INTO {table}_rekeyed ({names}) SELECT {names} FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_rekeyed", table)


def upgrade() -> None:
    for table, index in COUNTS:
        _rekey(table, index, bins=False, time_first=True)
    for table, index in BINS:
        _rekey(table, index, bins=True, time_first=True)


def downgrade() -> None:
    for table, index in COUNTS:
        _rekey(table, index, bins=False, time_first=False)
    for table, index in BINS:
        _rekey(table, index, bins=True, time_first=False)
