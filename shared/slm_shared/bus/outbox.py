"""Transactional outbox: events written with the change (`record`), published after commit by the relay."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from nats.js.api import PubAck
from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_shared.bus.connection import Bus
from slm_shared.bus.models import OutboxMessage
from slm_shared.bus.outbox_row import RelayedRow, committed_rows
from slm_shared.bus.record import PENDING_FLAG, ROWS_KEY
from slm_shared.db import Database, is_postgres, utcnow
from slm_shared.tasks import checkpoint, pause, wait_for_event

logger = logging.getLogger(__name__)

_OUTBOX = cast(Table, OutboxMessage.__table__)  # type: ignore[attr-defined]
# Marks one acknowledged row sent at its own acknowledgement's instant, if still unsent: one statement
# whatever the batch, run once per row in one executemany, so its SQL, its compiled form and (asyncpg)
# its prepared statement are the same for a batch of 1 or of 200.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.seq == bindparam("mark_seq"), _OUTBOX.c.sent_at.is_(None))
    .values(sent_at=bindparam("mark_at"), attempts=_OUTBOX.c.attempts + 1, failed_at=None)
)
_COLUMNS = (
    col(OutboxMessage.seq),
    col(OutboxMessage.event_id),
    col(OutboxMessage.subject),
    col(OutboxMessage.headers),
    col(OutboxMessage.body),
)


class OutboxRelay:
    """Publishes unsent outbox rows with `Nats-Msg-Id` = event id; marks them sent on ack.

    Rows committed through `Database.session` in this process are handed over by the commit hook
    and published at once, without reading them back. The table is read on start, at least once
    every poll interval however often commits wake the relay, when woken without rows (a re-queue,
    `wake()`), after a failure, and when more rows were handed over than one batch: rows of other
    processes, of a crashed round or of a lost hand-over are published from there.
    """

    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        publish_timeout: float = 3.0,
        max_backoff: float = 10.0,
        max_attempts: int = 20,
        hand_over: bool = True,
        hand_over_seconds: float | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.publish_timeout = publish_timeout
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.hand_over = hand_over  # False: every commit's rows are read back from the table (the baseline of a bench)
        # How long a row's own process may still be publishing and marking it from a hand-over: a read of
        # the table does not give up on a row younger than that (the hand-over may yet mark it sent).
        self.hand_over_seconds = 2 * publish_timeout + 1 if hand_over_seconds is None else hand_over_seconds
        self._wake = asyncio.Event()
        self._handed: list[RelayedRow] = []
        self._scan = True  # the first round reads the table
        # The rows the last read of the table found: a row committed just before that read can be
        # handed over after it too, and is not published again from the hand-over.
        self._scanned: set[int] = set()
        self.last_read = 0  # rows the last read of the table found (a full batch: more may wait, read again at once)
        self.published = 0  # copies JetStream stored
        self.duplicates = 0  # copies JetStream already held (same `Nats-Msg-Id`) and dropped
        self.given_up = 0
        db.after_commit.append(self._after_commit)

    def _after_commit(self, session: AsyncSession) -> None:
        rows = committed_rows(session.info.pop(ROWS_KEY, []))
        if session.info.pop(PENDING_FLAG, False):
            if rows and self.hand_over and len(self._handed) + len(rows) <= self.batch_size:
                self._handed += rows
            else:  # woken without rows (a re-queue), or too many at once: read them from the table
                self._scan = True
            self._wake.set()

    def wake(self) -> None:
        """Read the table for unsent rows now."""
        self._scan = True
        self._wake.set()

    async def run(self) -> None:
        """Relay forever: publish what is pending, back off on failure, sleep until woken."""
        backoff = 0.0
        await self.bus.connected.wait()
        clock = asyncio.get_running_loop().time
        last_scan = clock()
        while True:
            checkpoint()
            # Cleared before reading, so a commit during this round wakes the next one at once.
            self._wake.clear()
            handed, self._handed = self._handed, []
            # Commits that keep waking the relay never let the poll time out: the table is still read
            # once a poll interval, for rows of other processes, of a crashed round or of a lost hand-over.
            forced, self._scan = self._scan, False
            scan = forced or clock() - last_scan >= self.poll_seconds
            try:
                # A commit's rows go out at once, also in the round the poll interval makes read the table (that
                # read follows and finds them marked); a read asked for (a wake-up without rows, more rows than a
                # batch, a failure, the first round) takes the place of the hand-over: it publishes those rows with
                # the rest.
                if not forced and (handed := [row for row in handed if row.seq not in self._scanned]):
                    await self.relay_handed(handed)
                    backoff = 0.0
                if scan:  # the table holds the handed rows too: they were committed before being handed
                    last_scan = clock()
                    await self.relay_once()
                    backoff = 0.0
                    if self.last_read >= self.batch_size:  # however many were copies JetStream already held
                        self._scan = True
                        continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a relay must outlive any single failure
                checkpoint()
                self._scan = True  # what is still unsent is read from the table
                backoff = min(max(backoff * 2, 0.25), self.max_backoff)
                logger.warning("outbox relay failed (%s); retrying in %.2fs", exc, backoff)
                await pause(backoff)
                continue
            if not await wait_for_event(self._wake, self.poll_seconds):
                self._scan = True

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many JetStream stored (duplicates not counted)."""
        if is_postgres(self.db.engine):
            return await self._relay_locked()
        return await self._relay_unlocked()

    async def relay_handed(self, rows: list[RelayedRow]) -> int:
        """Publish rows handed over by a commit, then mark them sent; returns how many JetStream stored.

        The publish comes first, before any database round trip (no read, no lock), so the commit is
        followed at once by the event. A replica whose relay reads the table at the same moment may
        publish a row a second time: JetStream drops that copy (same `Nats-Msg-Id`, within the stream's
        duplicate window; later, the consumers' inboxes discard it; counted in
        `duplicates`), and only rows still unsent are marked, so a row is marked once, by whichever
        relay's mark commits first. That replica does not give up on the row meanwhile (see `_mark`).
        """
        acked, stored, error = await self._publish(rows)
        if rows:
            async with self.db.session() as session:
                await self._mark(session, rows, acked, error, handed=True)
        if error:
            raise error
        return stored

    async def _relay_locked(self) -> int:
        # PostgreSQL: rows stay locked (SKIP LOCKED) while published, so replicas share the work.
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(*_COLUMNS)
                    .where(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))
                    .order_by(col(OutboxMessage.seq))
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            self._scanned = {row.seq for row in rows}
            self.last_read = len(rows)
            acked, stored, error = await self._publish(rows)
            await self._mark(session, rows, acked, error)
        if error:
            raise error
        return stored

    async def _relay_unlocked(self) -> int:
        # SQLite: one writer at a time, so read without the write lock and never hold it across network calls.
        async with self.db.read_sessionmaker() as session:
            rows = (
                await session.execute(
                    select(*_COLUMNS)
                    .where(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))
                    .order_by(col(OutboxMessage.seq))
                    .limit(self.batch_size)
                )
            ).all()
            await session.rollback()
        self._scanned = {row.seq for row in rows}
        self.last_read = len(rows)
        if not rows:
            return 0
        acked, stored, error = await self._publish(rows)
        async with self.db.session() as session:
            await self._mark(session, rows, acked, error)
        if error:
            raise error
        return stored

    async def _publish(self, rows: Any) -> tuple[dict[int, datetime], int, Exception | None]:
        """Publish rows pipelined; returns each acknowledged seq's instant, how many were stored, the first error.

        Each row's instant is when the relay sees its own acknowledgement, taken as it arrives: the first event
        of a batch is in the stream (and on its way to consumers) before the last one's acknowledgement comes.
        """
        if not rows:
            return {}, 0, None
        js = self.bus.js

        async def publish(row: Any) -> tuple[PubAck, datetime]:
            headers = {**row.headers, "Nats-Msg-Id": row.event_id}
            ack = await js.publish(row.subject, row.body.encode(), timeout=self.publish_timeout, headers=headers)
            return ack, utcnow()

        results: list[tuple[PubAck, datetime] | BaseException]
        if len(rows) == 1:  # a commit's lone event (a breach): published from this task, no task of its own to wait for
            try:
                results = [await publish(rows[0])]
            except asyncio.CancelledError as exc:  # the relay's task cancelled: it stops; else the row's failure
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise
                results = [exc]
            except Exception as exc:  # noqa: BLE001 - as gather's return_exceptions: counted below
                results = [exc]
        else:
            results = await asyncio.gather(*(publish(row) for row in rows), return_exceptions=True)
        acked: dict[int, datetime] = {}
        stored = 0
        error: Exception | None = None
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                error = error or Exception(f"{type(result).__name__}: {result}")
            else:
                ack, acked_at = result
                acked[row.seq] = acked_at
                # a copy JetStream already held (another relay's, or one published before a crash) is not counted
                stored += not ack.duplicate
        self.published += stored
        self.duplicates += len(acked) - stored
        return acked, stored, error

    async def _mark(
        self,
        session: AsyncSession,
        rows: Any,
        acked: dict[int, datetime],
        error: Exception | None,
        *,
        handed: bool = False,
    ) -> None:
        # Only rows still unsent: a row another relay published (and marked) meanwhile keeps its mark.
        unsent = col(OutboxMessage.sent_at).is_(None)
        if acked:  # acknowledged is sent, even if a replica gave up on the row meanwhile
            # sent_at: when the relay saw its own acknowledgement, not when the write lock (or the batch's last
            # one) came; on the session's connection, in its transaction (PostgreSQL: rows still locked)
            connection = await session.connection()
            await connection.execute(_MARK_SENT, [{"mark_seq": seq, "mark_at": at} for seq, at in acked.items()])
        sent = set(acked)
        failed = [row.seq for row in rows if row.seq not in sent]
        if not (failed and error):
            return
        reason = str(error)[:2000]
        if not self.bus.is_connected:  # an outage is nobody's row's fault: it does not count as an attempt
            await session.execute(
                update(OutboxMessage).where(col(OutboxMessage.seq).in_(failed), unsent).values(last_error=reason)
            )
            return
        # A row's attempts stop at the limit: one too young to give up on (below) waits there.
        attempts = col(OutboxMessage.attempts)
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.seq).in_(failed), unsent)
            .values(attempts=case((attempts < self.max_attempts, attempts + 1), else_=attempts), last_error=reason)
        )
        give_up = [col(OutboxMessage.seq).in_(failed), unsent, col(OutboxMessage.attempts) >= self.max_attempts]
        if not handed:
            # A read of the table does not give up on a row its own process may still be publishing from a
            # hand-over (that publish may have been acknowledged already, its mark not yet committed).
            give_up.append(col(OutboxMessage.created_at) < utcnow() - timedelta(seconds=self.hand_over_seconds))
        given_up = await session.execute(
            update(OutboxMessage)
            .where(*give_up)
            .values(failed_at=utcnow())
            .returning(col(OutboxMessage.seq), col(OutboxMessage.event_id))
        )
        for seq, event_id in given_up.all():
            self.given_up += 1
            logger.error(
                "outbox gave up on row %s (event %s) after %d attempts: %s", seq, event_id, self.max_attempts, reason
            )
