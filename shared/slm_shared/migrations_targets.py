"""Alembic steps that move stored targets to the one shape (`target`, `op`, `value`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slm_shared.contracts.targets import FROM_SYMBOL


def rename_target_columns(table: str) -> None:
    """`objective`/`comparison`/`threshold` columns become `target`/`op`/`value`.

    The stored `comparison` came from the catalogue and agreements, where it meant "value vs threshold":
    for threshold indicators it becomes `op` unchanged in meaning; other indicators carry no `op`.
    """
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("target", sa.Float(), nullable=True))
        batch.add_column(sa.Column("op", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("value", sa.Float(), nullable=True))
    rows = sa.table(
        table,
        sa.column("objective", sa.Float()),
        sa.column("comparison", sa.String()),
        sa.column("threshold", sa.Float()),
        sa.column("indicator_kind", sa.String()),
        sa.column("target", sa.Float()),
        sa.column("op", sa.String()),
        sa.column("value", sa.Float()),
    )
    op.execute(rows.update().values(target=rows.c.objective))
    threshold_rows = rows.update().where(rows.c.indicator_kind == "threshold")
    op.execute(threshold_rows.values(value=rows.c.threshold))
    for symbol, name in FROM_SYMBOL.items():
        op.execute(threshold_rows.where(rows.c.comparison == symbol).values(op=name))
    with op.batch_alter_table(table) as batch:
        batch.alter_column("target", existing_type=sa.Float(), nullable=False)
        batch.drop_column("objective")
        batch.drop_column("comparison")
        batch.drop_column("threshold")
