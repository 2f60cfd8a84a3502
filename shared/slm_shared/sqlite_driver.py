"""SQLite for asyncio in one hop per statement: a statement, its rows and counts in one call on the connection's thread.

aiosqlite (which SQLAlchemy's `sqlite+aiosqlite` dialect drives) sends each statement to its thread in four
calls (open a cursor, execute, fetch the rows, close the cursor), each a wake-up of that thread and then of
the event loop; on a loaded machine each wake-up waits for a core. This connection offers the same
asyncio interface (`cursor`, `execute`, `commit`, `rollback`, `close`, `create_function`, `stop`), and its
cursor runs `execute` with the fetch and the close in one call, then hands over the rows it holds. It is
given to the dialect through SQLAlchemy's public `async_creator`; aiosqlite's own internals are not used.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
Result = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


def _run(connection: sqlite3.Connection, sql: str, parameters: Any) -> Result:
    cursor = connection.execute(sql, parameters)
    try:
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, sql: str, parameters: Iterable[Any]) -> Result:
    cursor = connection.executemany(sql, parameters)
    try:
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class Cursor:
    """A cursor whose `execute` brings back the whole result; fetching then takes no further call."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        result = await self._connection._call(partial(_run, self._connection.raw, sql, parameters))
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        result = await self._connection._call(partial(_run_many, self._connection.raw, sql, list(parameters)))
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = size or self.arraysize
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


class Connection:
    """One sqlite3 connection, used only on its own thread (one worker), in autocommit mode.

    Transactions are begun by the statements the caller sends (`BEGIN IMMEDIATE`, see `slm_shared.db`).
    """

    def __init__(self, raw: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self.raw = raw
        self._executor = executor

    async def _call(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    async def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return await Cursor(self).execute(sql, parameters)

    async def commit(self) -> None:
        await self._call(self.raw.commit)

    async def rollback(self) -> None:
        await self._call(self.raw.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self._call(partial(self.raw.create_function, *args, **kwargs))

    async def close(self) -> None:
        try:
            await self._call(self.raw.close)
        finally:
            self._executor.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting (SQLAlchemy's terminate, outside the event loop)."""
        self._executor.submit(self.raw.close)
        self._executor.shutdown(wait=False)


async def connect(path: str, *, busy_seconds: float) -> Connection:
    """Open `path` on a thread of its own; autocommit (isolation_level None), SQLite's busy timeout `busy_seconds`."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
    try:
        raw = await asyncio.get_running_loop().run_in_executor(
            executor,
            partial(sqlite3.connect, path, timeout=busy_seconds, isolation_level=None, check_same_thread=False),
        )
    except BaseException:
        executor.shutdown(wait=False)
        raise
    return Connection(raw, executor)
