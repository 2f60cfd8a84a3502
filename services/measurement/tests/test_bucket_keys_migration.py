"""The bucket tables keep their rows when their key changes to (series, time, scope)."""

from __future__ import annotations

import sqlalchemy as sa

from slm_shared.db import create_engine
from slm_shared.migrations import upgrade
from slm_shared.testing.legacy_rows import insert_rows

TABLES = {
    "minute_buckets": "minute",
    "hour_buckets": "hour",
    "day_buckets": "day",
    "minute_value_bins": "minute",
    "hour_value_bins": "hour",
    "day_value_bins": "day",
}


async def keys_and_rows(url: str) -> dict[str, tuple[list[str], int]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def read(sync: sa.Connection) -> dict[str, tuple[list[str], int]]:
                inspector = sa.inspect(sync)
                return {
                    table: (
                        inspector.get_pk_constraint(table)["constrained_columns"],
                        sync.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one(),
                    )
                    for table in TABLES
                }

            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def test_rows_survive_the_new_key(database_url: str) -> None:
    await upgrade("slm_measurement", database_url, "0003")
    for table, index in TABLES.items():
        rows = [
            {"tenant": "acme", "service": "checkout", "indicator": "availability", "scope": scope, index: n}
            | ({"bin": 4, "samples": 2.0} if "bins" in table else {"good": 9.0, "total": 10.0})
            for n in range(3)
            for scope in ("", "eu")
        ]
        await insert_rows(database_url, table, rows)
    before = await keys_and_rows(database_url)
    assert before["minute_buckets"] == (["tenant", "service", "indicator", "scope", "minute"], 6)

    await upgrade("slm_measurement", database_url)

    after = await keys_and_rows(database_url)
    for table, index in TABLES.items():
        extra = ["bin"] if "bins" in table else []
        assert after[table] == (["tenant", "service", "indicator", index, "scope", *extra], 6), table
