"""A pass's chunk locks its objectives by their ids (the primary key), not by reading every active objective."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.dialects import sqlite

from slm_measurement.pass_locks import _LOCK_DUE
from slm_shared.migrations import upgrade


async def test_a_chunk_is_locked_through_the_primary_key_on_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "measurement.db"
    await upgrade("slm_measurement", f"sqlite+aiosqlite:///{database}")
    sql = str(_LOCK_DUE[False].compile(dialect=sqlite.dialect()))
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        arguments = (json.dumps(["objective-1", "objective-2"]), "2026-12-01 00:00:00.000000")
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", arguments).all()
    engine.dispose()
    details = " ".join(str(row[-1]) for row in plan)
    assert "sqlite_autoindex_objectives_1 (id=?)" in details, details
    assert "ix_objectives_due" not in details and "SCAN objectives" not in details, details
    assert "TEMP B-TREE" not in details, details  # the ids come in key order: no sort
