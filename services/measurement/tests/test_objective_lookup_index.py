"""`GET /v1/objectives/{id}` finds its row through the (tenant, objective_id) index of migration 0016,
not by scanning and sorting every objective of the tenant."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.dialects import sqlite

from slm_measurement.lookups import _OBJECTIVE_BY_ID, _OBJECTIVE_LOOKUP
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
