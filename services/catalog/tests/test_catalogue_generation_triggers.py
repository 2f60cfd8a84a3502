"""The triggers behind the catalogue generation on PostgreSQL: a bulk write changes each tenant's generation once,
a writer's search_path cannot redirect them, and a later migration may write services and then alter the table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from conftest import generations, run_sql

from slm_catalog.migrations import versions
from slm_shared.db import create_engine
from slm_shared.migrations import _upgrade_sync, alembic_config, head_revision, upgrade
from slm_shared.testing.legacy_rows import insert_rows

_BULK = 5000
_COUNT_WRITES = [  # every write of a generation row, logged by a trigger of the test's own
    "CREATE TABLE generation_writes (tenant VARCHAR NOT NULL)",
    "CREATE FUNCTION log_generation_write() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO public.generation_writes VALUES (NEW.tenant); RETURN NULL; END $$",
    "CREATE TRIGGER log_generation_write AFTER INSERT OR UPDATE ON catalogue_generations"
    " FOR EACH ROW EXECUTE FUNCTION log_generation_write()",
]


def bulk_insert(tenant: str, count: int = _BULK) -> str:
    return (
        "INSERT INTO services (id, tenant, key, name, description, type, lifecycle, tags, configuration_items,"
        " version, created_at, updated_at)"
        f" SELECT '{tenant}-' || n, '{tenant}', 'k' || n, 'S' || n, '', 'business', 'live', '[]', '[]', 1, now(), now()"
        f" FROM generate_series(1, {count}) AS n"
    )


async def write_counts(connection: Any) -> dict[str, int]:
    rows = await connection.execute(sa.text("SELECT tenant, count(*) AS n FROM generation_writes GROUP BY tenant"))
    return {row.tenant: row.n for row in rows}


async def test_a_bulk_write_on_postgresql_writes_each_tenants_generation_once(postgres_url: str) -> None:
    """Thousands of services written in one transaction write the generation row once (once per row took seconds
    at commit, holding the row); the once is per transaction: the next one on the same connection writes it again."""
    await upgrade("slm_catalog", postgres_url)
    await run_sql(postgres_url, *_COUNT_WRITES)
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)  # one pooled connection for every transaction
    seen: list[dict[str, str]] = [{}]
    backends: set[int] = set()

    async def transaction(*statements: str) -> None:
        async with engine.begin() as connection:
            backends.add((await connection.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            for statement in statements:
                await connection.execute(sa.text(statement))
        seen.append(await generations(postgres_url))

    try:
        await transaction(bulk_insert("acme"))
        await transaction(f"UPDATE services SET name = 'renamed' WHERE tenant = 'acme' AND key <> 'k{_BULK}'")
        await transaction("UPDATE services SET description = 'd' WHERE tenant = 'acme'")
        await transaction(bulk_insert("globex"), "UPDATE services SET version = version + 1")  # two tenants
        await transaction("DELETE FROM services WHERE tenant = 'acme' AND key LIKE 'k1%'")
        async with engine.connect() as connection:
            assert await write_counts(connection) == {"acme": 5, "globex": 1}
        assert len(backends) == 1  # one session: what marks a tenant written did not outlive its transaction
        acme = [each["acme"] for each in seen[1:]]
        assert len(set(acme)) == 5  # every transaction gave acme a new generation
        assert "globex" not in seen[3] and seen[4]["globex"] == seen[5]["globex"]  # written by the 4th alone
    finally:
        await engine.dispose()


async def test_the_generation_functions_ignore_a_writers_search_path(postgres_url: str) -> None:
    await upgrade("slm_catalog", postgres_url)
    decoy = "CREATE TABLE decoy.catalogue_generations (tenant VARCHAR PRIMARY KEY, generation VARCHAR NOT NULL)"
    await run_sql(postgres_url, "CREATE SCHEMA decoy", decoy)
    raw = "INSERT INTO services (id, tenant, key, name, description, type, lifecycle, tags, configuration_items,"
    raw += " version, created_at, updated_at) VALUES ('s1', 'acme', 'k', 'S', '', 'business', 'live', '[]', '[]',"
    raw += " 1, now(), now())"
    await run_sql(postgres_url, "SET LOCAL search_path = decoy, public", raw)
    await run_sql(postgres_url, "SET LOCAL search_path = decoy, public", "UPDATE services SET name = 'T'")
    assert set(await generations(postgres_url)) == {"acme"}
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("SELECT count(*) FROM decoy.catalogue_generations"))).scalar() == 0
    finally:
        await engine.dispose()


_BACKFILL_THEN_ALTER = '''"""a later migration: backfills services, then alters the table, in one transaction"""
from alembic import op
import sqlalchemy as sa

revision = "9999"
down_revision = "{head}"


def upgrade() -> None:
    op.execute("UPDATE services SET description = 'backfilled'")
    op.add_column("services", sa.Column("backfilled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.alter_column("services", "description", type_=sa.String(length=5000))
'''


async def test_a_later_migration_may_write_services_then_alter_the_table(postgres_url: str, tmp_path: Path) -> None:
    """The triggers are deferred; a migration runs with every constraint immediate, so the rows it wrote leave no
    trigger event pending when it alters their table."""
    await upgrade("slm_catalog", postgres_url)
    rows = [{"id": f"svc-{n}", "tenant": "acme", "key": f"s{n}", "name": "S", "lifecycle": "live"} for n in range(3)]
    await insert_rows(postgres_url, "services", rows)
    before = await generations(postgres_url)
    later = tmp_path / "9999_backfill_then_alter.py"  # beside the real versions, as the next one
    later.write_text(_BACKFILL_THEN_ALTER.format(head=head_revision("slm_catalog")), encoding="utf-8")
    config = alembic_config("slm_catalog", postgres_url)
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join([versions.__path__[0], str(tmp_path)]))
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_sync, config, "head")
        async with engine.connect() as connection:
            found = await connection.execute(sa.text("SELECT DISTINCT description, backfilled FROM services"))
            assert [tuple(row) for row in found] == [("backfilled", False)]
    finally:
        await engine.dispose()
    after = await generations(postgres_url)
    assert set(after) == {"acme"} and after["acme"] != before["acme"]  # the backfill still changed the generation
