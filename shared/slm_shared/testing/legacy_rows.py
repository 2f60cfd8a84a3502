"""Rows written straight into an older schema, to prove a migration carries them to the newest one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from slm_shared.db import create_engine


def _filler(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return []
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer | sa.Numeric | sa.Float):
        return 0
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC)
    return "x"


async def insert_rows(database_url: str, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows into `table` as it stands, filling every other required column with a plain value."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:

            def write(sync: sa.Connection) -> None:
                reflected = sa.Table(table, sa.MetaData(), autoload_with=sync)
                for row in rows:
                    full = {
                        c.name: _filler(c)
                        for c in reflected.columns
                        if not c.nullable and c.name not in row and c.autoincrement is not True
                    }
                    full.update(row)
                    for c in reflected.columns:
                        if isinstance(c.type, sa.JSON) and c.name in full and isinstance(full[c.name], str):
                            full[c.name] = json.loads(full[c.name])
                    sync.execute(reflected.insert().values(full))

            await connection.run_sync(write)
    finally:
        await engine.dispose()
