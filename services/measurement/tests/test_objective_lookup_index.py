"""`GET /v1/objectives/{id}` finds its row through the (tenant, objective_id) index of migration 0016,
not by scanning and sorting every objective of the tenant, and in one pass over the table on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import create_async_engine
from test_objective_row_lookup import objective

from slm_measurement.lookups import _OBJECTIVE_BY_ID, _OBJECTIVE_LOOKUP
from slm_measurement.models import Objective
from slm_shared.migrations import upgrade
from slm_shared.read_statements import CompiledRead


async def test_the_objective_read_searches_the_lookup_index(tmp_path: Path) -> None:
    database = tmp_path / "measurement.db"
    await upgrade("slm_measurement", f"sqlite+aiosqlite:///{database}")
    sql = str(_OBJECTIVE_BY_ID.compile(dialect=sqlite.dialect()))
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("acme", "availability", 1, 0)).all()
    engine.dispose()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_objectives_lookup (tenant=? AND objective_id=?)" in details, details


async def test_the_one_statement_lookup_searches_the_lookup_index_and_the_primary_key(tmp_path: Path) -> None:
    database = tmp_path / "measurement.db"
    await upgrade("slm_measurement", f"sqlite+aiosqlite:///{database}")
    compiled = CompiledRead(_OBJECTIVE_LOOKUP, sqlite.dialect())
    arguments = compiled.arguments({"tenant": "acme", "objective_id": "availability"})
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.sql}", arguments).all()
    engine.dispose()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_objectives_lookup (tenant=? AND objective_id=?)" in details, details
    assert "sqlite_autoindex_objectives_1 (id=?)" in details, details  # the row id by its key, not a scan
    assert "SCAN objectives" not in details, details


def _scans(plan: dict[str, Any]) -> list[str]:
    """The relations a PostgreSQL plan node and those under it read, one entry per scan."""
    found = [plan["Relation Name"]] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_the_one_statement_lookup_reads_the_table_once_on_postgresql(postgres_url: str) -> None:
    await upgrade("slm_measurement", postgres_url)
    engine = create_async_engine(postgres_url)
    compiled = CompiledRead(_OBJECTIVE_LOOKUP, engine.dialect)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Objective.__table__),  # type: ignore[attr-defined]
                [objective(f"row-{n}", f"objective-{n}", tenant=("acme", "globex")[n % 2]) for n in range(200)],
            )
            for analyzed in (False, True):  # before the table's first ANALYZE (a fresh table), and after
                if analyzed:
                    await connection.exec_driver_sql("ANALYZE objectives")
                for wanted in ("objective-4", "row-4", "nothing"):
                    arguments = compiled.arguments({"tenant": "acme", "objective_id": wanted})
                    result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled.sql}", arguments)
                    plan = result.scalar_one()[0]["Plan"]
                    # one pass over the table, not an Append of two lookups each sorted on its own
                    assert _scans(plan) == ["objectives"], (analyzed, wanted, plan)
    finally:
        await engine.dispose()
