"""One-statement reads decode their columns as a session would, faster: JSON by msgspec (json's values, json where
msgspec refuses) on SQLite and PostgreSQL, SQLite's UTC timestamps in one call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, bindparam, select

from slm_shared.db import Database, UTCDateTime


@pytest.mark.asyncio
async def test_sqlite_json_columns_are_decoded_by_msgspec_with_json_s_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text of a JSON column is decoded by msgspec, not `json.loads`; what msgspec refuses (NaN, 1e400, a lone
    surrogate), a number SQLite's JSON functions stored and NULL are given by SQLAlchemy's own processor."""
    stored = [
        ("plain", '{"k": [1, "x", 2.5, -0.0, 123456789012345678901234567890], "\\u00fc": null}'),
        ("nan", "[NaN, Infinity]"),
        ("huge", "[1e400]"),
        ("surrogate", '["\\ud800"]'),
        ("number", 7),
        ("null", None),
    ]
    documents = Table("documents", MetaData(), Column("name", String(32), primary_key=True), Column("doc", JSON))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'json.db'}")
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(documents.metadata.create_all)
            await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            for name, text_value in stored:
                await connection.exec_driver_sql("INSERT INTO documents VALUES (?, ?)", (name, text_value))
        decoded: list[str] = []
        real_loads = json.loads

        def counted_loads(text_value: str, *args: Any, **kwargs: Any) -> Any:
            decoded.append(text_value)
            return real_loads(text_value, *args, **kwargs)

        monkeypatch.setattr(json, "loads", counted_loads)  # SQLAlchemy's JSON processor calls json.loads
        every = select(documents).where(documents.c.name != bindparam("none"))
        rows = {row.name: row.doc for row in await db.reader.rows(every, {"none": ""})}
        assert db.reader._inline_connection is not None  # read inline, on SQLite
        for name, text_value in stored:
            expected = real_loads(text_value) if isinstance(text_value, str) else text_value
            assert repr(rows[name]) == repr(expected), name
        texts = [value for value in decoded if isinstance(value, str)]  # a number goes to SQLAlchemy's processor too
        assert texts == ["[NaN, Infinity]", "[1e400]", '["\\ud800"]'], decoded
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_sqlite_utc_timestamps_are_read_in_one_call_as_utcdatetime_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `UTCDateTime` stored by SQLAlchemy is read without its processor (parse, then attach UTC), as the same
    aware datetime; text in any other shape, and NULL, still go through it."""
    stamps = Table("stamps", MetaData(), Column("name", String(32), primary_key=True), Column("at", UTCDateTime))
    written = {
        "micro": datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
        "whole": datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
        "early": datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "null": None,
    }
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'stamps.db'}")
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(stamps.metadata.create_all)
            await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            await connection.execute(stamps.insert(), [{"name": name, "at": at} for name, at in written.items()])
            await connection.exec_driver_sql("INSERT INTO stamps VALUES ('short', '2026-03-29 01:30:15')")
        processed: list[Any] = []
        original = UTCDateTime.process_result_value

        def counted(self: UTCDateTime, value: Any, dialect: Any) -> Any:
            processed.append(value)
            return original(self, value, dialect)

        monkeypatch.setattr(UTCDateTime, "process_result_value", counted)
        every = select(stamps).where(stamps.c.name != bindparam("none"))
        rows = {row.name: row.at for row in await db.reader.rows(every, {"none": ""})}
        assert db.reader._inline_connection is not None  # read inline, on SQLite
        for name, at in written.items():
            assert rows[name] == at and (at is None or rows[name].tzinfo is UTC), name
        assert rows["short"] == datetime(2026, 3, 29, 1, 30, 15, tzinfo=UTC)
        assert processed == [None, datetime(2026, 3, 29, 1, 30, 15)], processed  # NULL and the other shape only
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_postgresql_json_columns_are_decoded_by_msgspec_with_json_s_values(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the read pool's driver decodes json and jsonb with msgspec, not `json.loads`; what msgspec
    refuses (1e400, kept as sent by a json column) is decoded by `json.loads`, so every value is the one it gives."""
    stored = [
        ("plain", '{"k": [1, "x", 2.5, -0.0, 123456789012345678901234567890], "\\u00fc": null, "e": "\\u00e9"}'),
        ("huge", "[1e400]"),
        ("number", "7"),
    ]
    db = Database(postgres_url)
    try:
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE documents (name TEXT PRIMARY KEY, doc JSONB, raw JSON)")
            for name, text_value in stored:
                await connection.exec_driver_sql(
                    "INSERT INTO documents VALUES ($1, $2::jsonb, $3::json)", (name, text_value, text_value)
                )
            as_sent = dict((await connection.exec_driver_sql("SELECT name, doc::text FROM documents")).all())
        decoded: list[str] = []
        real_loads = json.loads

        def counted_loads(text_value: str, *args: Any, **kwargs: Any) -> Any:
            decoded.append(text_value)
            return real_loads(text_value, *args, **kwargs)

        monkeypatch.setattr(json, "loads", counted_loads)
        documents = Table(
            "documents",
            MetaData(),
            Column("name", String(32), primary_key=True),
            Column("doc", JSON),
            Column("raw", JSON),
        )
        every = select(documents).where(documents.c.name != bindparam("none"))
        rows = {row.name: row for row in await db.reader.rows(every, {"none": ""})}
        for name, text_value in stored:
            assert repr(rows[name].doc) == repr(real_loads(as_sent[name])), name  # of jsonb's own text of the value
            assert repr(rows[name].raw) == repr(real_loads(text_value)), name  # of the text as sent
        assert decoded == ["[1e400]"], decoded
    finally:
        await db.dispose()
