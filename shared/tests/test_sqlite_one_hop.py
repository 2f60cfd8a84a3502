"""A statement on SQLite takes one hop to aiosqlite's thread, and behaves as with SQLAlchemy's own adaptation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError

from slm_shared.db import Database


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls handed to aiosqlite's thread (the real ones, counted on their way)."""
    handed: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(f"{getattr(fn, '__name__', fn)}{args[1:2]}")
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return handed


async def test_a_statement_is_one_hop_and_reads_writes_and_errors_are_as_before(
    tmp_path: Path, hops: list[str]
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER UNIQUE, s TEXT)"))
        hops.clear()
        async with db.session() as session:
            inserted = await session.execute(text("INSERT INTO t (n, s) VALUES (1, 'a') RETURNING id"))
            assert inserted.scalar_one() == 1
            many = await session.execute(
                text("INSERT INTO t (n, s) VALUES (:n, :s)"), [{"n": n, "s": f"s{n}"} for n in range(2, 6)]
            )
            assert many.rowcount == 4
            updated = await session.execute(text("UPDATE t SET s = 'b' WHERE n <= 3"))
            assert updated.rowcount == 3
            found = await session.execute(
                text("SELECT n, s FROM t WHERE n IN :ns ORDER BY n").bindparams(bindparam("ns", expanding=True)),
                {"ns": [1, 4, 9]},
            )
            assert [tuple(row) for row in found] == [(1, "b"), (4, "s4")]
            assert list(found.keys()) == ["n", "s"]
            nothing = await session.execute(text("SELECT n FROM t WHERE n > 100"))
            assert nothing.all() == []
        # BEGIN IMMEDIATE, five statements, COMMIT and the pool's rollback on return: one hop each (SQLAlchemy's
        # adaptation took three or four per statement: cursor, execute, fetch, close)
        assert len(hops) == 8, "\n".join(hops)

        with pytest.raises(IntegrityError):
            async with db.session() as session:
                await session.execute(text("INSERT INTO t (n, s) VALUES (1, 'again')"))
        async with db.session() as session:  # rolled back, the connection still good
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 5
    finally:
        await db.dispose()
