"""SQLite writers of one process take turns in the event loop instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import text

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.db import URGENT_TURNS_IN_A_ROW, Database
from slm_shared.errors import NotFound
from slm_shared.settings import ServiceSettings
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.deps import SessionDep, StaffDep


async def test_a_second_writer_starts_only_when_the_first_has_committed(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    steps: list[str] = []
    first_in = asyncio.Event()
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER)"))

        async def first() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                steps.append("first in")
                first_in.set()
                await asyncio.sleep(0.3)  # holds SQLite's write lock meanwhile
                steps.append("first out")

        async def second() -> None:
            await first_in.wait()
            async with db.session() as session:
                steps.append("second in")
                await session.execute(text("INSERT INTO t VALUES (2)"))

        async def reader() -> int:
            await first_in.wait()
            async with db.session(read_only=True) as session:  # readers never queue behind writers
                steps.append("reader in")
                return int(await session.scalar(text("SELECT count(*) FROM t")) or 0)

        _, _, seen = await asyncio.gather(first(), second(), reader())
        assert steps.index("reader in") < steps.index("first out") and seen == 0
        assert steps.index("first out") < steps.index("second in")
        async with db.session(read_only=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 2
    finally:
        await db.dispose()


async def test_a_failed_writer_lets_the_next_one_in(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))

        async def failing() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("rolled back")

        results = await asyncio.gather(failing(), return_exceptions=True)
        assert isinstance(results[0], RuntimeError)
        async with asyncio.timeout(5):  # the turn was given back: no wait for the 30 s bound
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
        async with db.session(read_only=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await db.dispose()


async def _end_by_raising(db: Database) -> None:
    with contextlib.suppress(RuntimeError):
        async with db.session() as session:
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await asyncio.sleep(0.2)  # another writer queues meanwhile
            raise RuntimeError("rolled back")


async def _end_by_cancellation(db: Database) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.2):  # cancels the body, as a shutdown or a deadline does
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                await asyncio.sleep(10)


@pytest.mark.parametrize("end", [_end_by_raising, _end_by_cancellation], ids=["raises", "cancelled"])
async def test_a_failed_session_gives_the_turn_back_in_its_own_task(
    tmp_path: Path, end: Callable[[Database], Awaitable[None]]
) -> None:
    """The inbox rerun path: a task whose session failed writes again at once, another writer waits."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    steps: list[str] = []
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))

        async def rerun() -> None:
            await end(db)  # the session fails in this task
            assert db._writer_task is not asyncio.current_task()  # no await in between
            lock = db._writer_lock
            assert lock is not None and lock[1].waiting() == 0  # handed to the other, before any other task ran
            async with db.session() as session:  # its next transaction queues: it is not nested
                steps.append("rerun in")
                await session.execute(text("INSERT INTO t VALUES (2)"))

        async def other() -> None:
            await asyncio.sleep(0.05)  # the failing session holds the turn: this one queues
            async with db.session() as session:
                steps.append("other in")
                await session.execute(text("INSERT INTO t VALUES (3)"))
                await asyncio.sleep(0.1)
                steps.append("other out")

        async with asyncio.timeout(10):
            await asyncio.gather(rerun(), other())
        assert steps == ["other in", "other out", "rerun in"]  # one writer at a time, in queue order
        async with db.session(read_only=True) as session:
            rows = (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert rows == [2, 3]  # the failed session was rolled back
    finally:
        await db.dispose()


async def test_a_request_that_fails_after_writing_gives_the_turn_back_before_the_response(sqlite_url: str) -> None:
    """The request transaction (`SessionDep`) is rolled back and its turn given back before the 4xx is sent."""
    failing = APIRouter()

    @failing.post("/v1/fails-after-writing")
    async def fails_after_writing(session: SessionDep, principal: StaffDep) -> None:
        await session.execute(text("INSERT INTO t VALUES (1)"))
        raise NotFound("nothing here")

    definition = ServiceDefinition(
        name="failing", title="t", description="t", migrations_package="none", routers=[failing]
    )
    settings = ServiceSettings(database_url=sqlite_url, nats_url="nats://127.0.0.1:1", run_workers=False)
    app = create_app(definition, settings, auto_migrate=False)
    async with running_app(app) as client:
        db: Database = app.state.db
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        response = await client.post("/v1/fails-after-writing", headers={"Authorization": f"Bearer {make_token()}"})
        assert response.status_code == 404
        lock = db._writer_lock
        assert lock is not None and not lock[1].locked()  # no await since the response
        assert db._writer_task is None
        async with db.session(read_only=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 0


async def _turn_order(db: Database, writers: list[tuple[str, bool]]) -> list[str]:
    """Queue `writers` (name, urgent) in list order behind a holder of the turn; the order of their rows."""
    async with db.session() as session:
        await session.execute(text("CREATE TABLE turns (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)"))
    inside = 0

    async def writer(name: str, urgent: bool) -> None:
        nonlocal inside
        async with db.session(urgent=urgent) as session:
            inside += 1
            assert inside == 1  # still one writer at a time
            await session.execute(text("INSERT INTO turns (name) VALUES (:name)"), {"name": name})
            await asyncio.sleep(0.01)
            inside -= 1

    async def queued_to(count: int) -> None:
        assert db._writer_lock is not None
        while db._writer_lock[1].waiting() < count:
            await asyncio.sleep(0)

    async with db.session() as session:  # the holder: everyone else queues meanwhile
        await session.execute(text("INSERT INTO turns (name) VALUES ('holder')"))
        tasks = []
        for index, (name, urgent) in enumerate(writers):
            tasks.append(asyncio.create_task(writer(name, urgent)))
            await queued_to(index + 1)
    await asyncio.gather(*tasks)
    async with db.session(read_only=True) as session:
        rows = (await session.execute(text("SELECT name FROM turns ORDER BY seq"))).scalars().all()
    return [str(name) for name in rows]


async def test_an_urgent_writer_goes_ahead_of_the_ordinary_ones_waiting(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    try:
        order = await _turn_order(db, [("ordinary 1", False), ("ordinary 2", False), ("urgent", True)])
        assert order == ["holder", "urgent", "ordinary 1", "ordinary 2"]
    finally:
        await db.dispose()


async def test_urgent_writers_do_not_starve_an_ordinary_one(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    try:
        urgent = [(f"urgent {n}", True) for n in range(URGENT_TURNS_IN_A_ROW + 2)]
        order = await _turn_order(db, [("ordinary", False), *urgent])
        assert order.index("ordinary") == 1 + URGENT_TURNS_IN_A_ROW  # after the bound, not after them all
        assert sorted(order) == sorted(["holder", "ordinary", *(name for name, _ in urgent)])
    finally:
        await db.dispose()


async def test_a_writer_that_gives_up_waiting_leaves_the_queue(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        holding, release = asyncio.Event(), asyncio.Event()

        async def holder() -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                holding.set()
                await release.wait()

        async def impatient() -> None:
            await holding.wait()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05), db.session(urgent=True):
                    pass
            release.set()

        await asyncio.gather(holder(), impatient())
        async with asyncio.timeout(5):  # the cancelled waiter was not handed the turn
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (2)"))
        async with db.session(read_only=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 2
    finally:
        await db.dispose()


async def test_writers_cancelled_together_with_a_hand_over_end_cancelled_and_free_the_turn() -> None:
    """Shutdown cancels every writer in one go, one of them just handed the turn: each ends cancelled
    (never another error a consumer would take for a failed event), and the turn is free again."""
    from slm_shared.db import WriterQueue

    turn = WriterQueue()
    await turn.acquire()

    async def writer() -> None:
        await turn.acquire()
        turn.release()

    first, second = asyncio.create_task(writer()), asyncio.create_task(writer())
    await asyncio.sleep(0)
    turn.release()  # handed to the first
    first.cancel()
    second.cancel()
    ended = await asyncio.gather(first, second, return_exceptions=True)
    assert [type(e).__name__ for e in ended] == ["CancelledError", "CancelledError"]
    assert not turn.locked() and turn.waiting() == 0

    # A waiter cancelled (a timeout) while the holder releases in the same moment: cancelled, turn free.
    await turn.acquire()
    waiting = asyncio.create_task(writer())
    await asyncio.sleep(0)
    waiting.cancel()
    turn.release()
    [ended_alone] = await asyncio.gather(waiting, return_exceptions=True)
    assert isinstance(ended_alone, asyncio.CancelledError)
    assert not turn.locked()
