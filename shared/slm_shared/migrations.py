"""Alembic for each service: its env.py calls `run_env`, its CLI and start-up call `upgrade`."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from slm_shared.db import create_engine


def alembic_config(package: str, database_url: str) -> Config:
    """An Alembic config for `<package>/migrations`, without an ini file."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision(package: str) -> str | None:
    """The newest revision of a service's migrations, or None if it has none."""
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(alembic_config(package, "sqlite://")).get_current_head()
    except Exception:  # noqa: BLE001 - a package without migrations has no head
        return None


async def upgrade(package: str, database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`, inside the running event loop."""
    engine = create_engine(database_url)
    config = alembic_config(package, database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_sync, config, revision)
    finally:
        await engine.dispose()


def _upgrade_sync(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    connection: Any = context.config.attributes.get("connection")
    if connection is not None:
        _run_with(connection, target_metadata)
        return
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    async def _online() -> None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        async with engine.begin() as conn:
            await conn.run_sync(_run_with, target_metadata)
        await engine.dispose()

    asyncio.run(_online())


def _run_with(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Deferred triggers fire as each statement ends: a migration that writes a table and then alters it in
            # the same transaction would otherwise fail ("pending trigger events").
            connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
        context.run_migrations()


def upgrade_json_targets(table: str, key: str, column: str) -> None:
    """Rewrite a JSON list of version-1 targets in every row of `table` to the `target`/`op`/`value` shape."""
    from alembic import op
    from sqlalchemy import JSON, select
    from sqlalchemy import column as sql_column
    from sqlalchemy import table as sql_table

    from slm_shared.contracts.targets import from_v1

    rows_table = sql_table(table, sql_column(key), sql_column(column, JSON))
    connection = op.get_bind()
    for row_key, items in connection.execute(select(rows_table.c[key], rows_table.c[column])).all():
        if not items or not any(isinstance(item, dict) and "objective" in item for item in items):
            continue
        upgraded = [from_v1(item) if "objective" in item else item for item in items]
        connection.execute(rows_table.update().where(rows_table.c[key] == row_key).values({column: upgraded}))
