"""Attempt results written in groups: one transaction for every result handed over since the last one took its
group, or in the commit of a transaction sending fresh deliveries as it commits (riding along)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from slm_notifier import fresh, repository
from slm_notifier.channels.base import AttemptOutcome
from slm_notifier.models import PENDING
from slm_notifier.policy import Transition
from slm_notifier.queued import outermost_committing
from slm_shared.db import Database, is_postgres
from slm_shared.tasks import stop_tasks

RIDING = "slm_notifier_riding_results"  # session.info: results written in this transaction, with their futures
RIDER = "slm_notifier_rider"  # session.info: resolved once this transaction with results riding along has ended


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt's row, the delivery's new state, and whether its subscription must be disabled."""

    attempt: dict[str, Any]
    delivery_id: str
    claim_token: str
    state: dict[str, Any]
    disable_subscription: tuple[str, str] | None = None  # (subscription id, reason)
    now: datetime | None = None


def attempt_record(
    job: Any, outcome: AttemptOutcome, transition: Transition, *, attempted_at: datetime, now: datetime
) -> AttemptRecord:
    """What an attempt of a claimed `job` leaves: its row, and the delivery's state after `transition`."""
    error = (outcome.error or None) and outcome.error[:2000]
    return AttemptRecord(
        attempt={
            "delivery_id": job.id,
            "tenant": job.tenant,
            "number": job.attempt_count + 1,
            "attempted_at": attempted_at,
            "succeeded": outcome.succeeded,
            "status_code": outcome.status_code,
            "error": error,
            "duration_ms": outcome.duration_ms,
            "next_attempt_at": transition.next_attempt_at,
        },
        delivery_id=job.id,
        claim_token=job.claim_token,
        state={
            "status": transition.status,
            "attempt_count": job.attempt_count + 1,
            "round_attempts": job.round_attempts + 1,
            "next_attempt_at": transition.next_attempt_at,
            "last_status_code": outcome.status_code,
            "last_error": error,
            "updated_at": now,
            "completed_at": None if transition.status == PENDING else now,
        },
        disable_subscription=(job.subscription_id, outcome.error or "disabled")
        if outcome.disable_subscription
        else None,
        now=now,
    )


class AttemptRecorder:
    """Group commit of attempt results: one transaction for every result that arrived meanwhile.

    Results not yet taken by a write may instead ride along in a transaction about to commit fresh deliveries
    (`ride_along`): they are stored by its commit, so its deliveries are sent at once with no answer read
    before them left unstored (those to a subscription an answer disables there fail instead, unsent), and
    without waiting for a transaction of the recorder's own (on SQLite: for the writer turn the committing
    transaction holds). That transaction then also holds the row locks of the deliveries (and of a subscription
    an answer disables) whose results ride along until it ends, and a statement of theirs that fails fails it:
    for a consumer's batch, its events are then applied one by one, each in a transaction of its own, and the
    results go back to the recorder."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[AttemptRecord, asyncio.Future[None]]] = []
        self._unwritten: set[asyncio.Future[None]] = set()  # every result handed over and not yet stored (or failed)
        self._writer: asyncio.Task[None] | None = None
        self._riders: set[asyncio.Future[None]] = set()  # transactions with results riding along, until they end
        self._closed = False  # by `close`: no writer starts any more

    async def record(self, item: AttemptRecord) -> None:
        """Store one result; returns once its transaction has committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unwritten.add(future)
        future.add_done_callback(self._unwritten.discard)
        self._pending.append((item, future))
        self._start_writer()
        await future

    def _start_writer(self) -> None:
        if self._pending and not self._closed and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._write_all(), name="attempt-recorder")

    def writing(self) -> bool:
        """Whether results handed over are not all written yet."""
        return any(not future.done() for future in self._unwritten)  # (a done one is discarded a moment later)

    async def flushed(self) -> None:
        """Return once every result handed over so far is written (or has failed).

        Results handed over meanwhile are not waited for: while attempts keep finishing the writer never
        goes idle, and a fresh delivery waiting for that (rather than for the answers received before it)
        waited for every answer after it too."""
        handed_over = {future for future in self._unwritten if not future.done()}
        if handed_over:
            await asyncio.wait(handed_over)

    async def close(self, *, within: float) -> None:
        """Let results already handed over be written (within a bound), then stop the writer.

        Transactions with results riding along are waited for too (within the same bound): those that roll
        back give their results back, and a writer started here writes them. Once this returns no writer starts
        any more (results given back later, past the bound, are not written, as a writer stopped here)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            self._start_writer()  # for results given back by a transaction that rolled back
            waiting = {*self._riders} | ({self._writer} if self._writer and not self._writer.done() else set())
            remaining = deadline - loop.time()
            if not waiting or remaining <= 0:
                break
            await asyncio.wait(waiting, timeout=remaining)
        self._closed = True
        if self._writer is not None and not self._writer.done():
            await stop_tasks([self._writer], grace_seconds=1.0)

    def ride_along_at_commit(self, session: Session) -> None:
        """Have the results unwritten when `session`'s outermost transaction commits ride along in it
        (`ride_along`): called for a transaction with fresh deliveries to send as it commits."""
        if not event.contains(session, "before_commit", self._at_commit):
            event.listen(session, "before_commit", self._at_commit)

    def _at_commit(self, session: Session) -> None:
        if session.in_nested_transaction() and not outermost_committing(session):
            return  # a savepoint's release (see `queued._write_queued`)
        self.ride_along(session)

    def ride_along(self, session: Session) -> None:
        """Write the results no write has taken yet in `session`'s transaction, which is committing (a sync
        `before_commit` hook); they count as stored once it commits, and go back to the recorder if it does not.

        A result disabling a subscription disables it here, with the statement the recorder's own transaction
        uses, and a fresh delivery of this transaction to that subscription is not sent: it is read back after
        the commit and fails as "subscription disabled" (`fresh.mark_disabled`), as one written after the
        recorder's transaction disabling it does, on both databases: it commits after the answer that
        disabled the subscription was read, and no webhook goes to a subscription known to be gone."""
        riding, self._pending = self._pending, []
        if not riding:
            return
        session.info.setdefault(RIDING, []).extend(riding)
        if RIDER not in session.info:  # `close` waits for it
            rider: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            session.info[RIDER] = rider
            self._riders.add(rider)
        if not event.contains(session, "after_commit", _stored):
            event.listen(session, "after_commit", _stored)
        if not event.contains(session, "after_transaction_end", self._ride_ended):
            event.listen(session, "after_transaction_end", self._ride_ended)
        items = [item for item, _ in riding]
        for statement, params in record_statements(items, is_postgres(self.db.engine)):
            session.execute(statement, params)
        fresh.mark_disabled(session, {disabled[0] for disabled in _disabling(items)})

    def _ride_ended(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None:
            return
        # rolled back (committed: `_stored` took them): the recorder writes them on its own, first. All of
        # them, those of a cancelled attempt (shutdown) too: their answers were read, as the recorder's own
        # transaction writes them
        riding = session.info.pop(RIDING, [])
        if riding:
            self._pending[:0] = riding
            self._start_writer()
        rider: asyncio.Future[None] | None = session.info.pop(RIDER, None)
        if rider is not None:
            self._riders.discard(rider)
            if not rider.done():
                rider.set_result(None)

    async def _write_all(self) -> None:
        while self._pending:
            batch: list[tuple[AttemptRecord, asyncio.Future[None]]] = []
            try:
                async with self.db.session() as session:
                    # taken once the session may write (on SQLite, with the writer turn): until then a
                    # transaction committing fresh deliveries may take them along (`ride_along`)
                    batch, self._pending = self._pending, []
                    if batch:
                        # stored as the commit returns, not once the connection is given back after it: a fresh
                        # delivery committed meanwhile finds them written (`writing`) and is sent at once
                        session.info[RIDING] = list(batch)
                        event.listen(session.sync_session, "after_commit", _stored)
                        await self._write(session, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting attempt
                if not batch:
                    batch, self._pending = self._pending, []
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _write(self, session: AsyncSession, items: list[AttemptRecord]) -> None:
        for statement, params in record_statements(items, is_postgres(self.db.engine)):
            await session.execute(statement, params)


def record_statements(items: list[AttemptRecord], postgresql: bool) -> list[tuple[Any, Any]]:
    """The statements (with their parameters) storing these results: the attempts' rows and the deliveries'
    new state (only where the claim is still held), one statement on PostgreSQL, two on SQLite; then the
    subscriptions they disable, one statement each."""
    if not items:
        return []
    statements: list[tuple[Any, Any]]
    if postgresql:
        statements = [
            repository.record_and_finish_statement(
                [(item.attempt, item.delivery_id, item.claim_token, item.state) for item in items]
            )
        ]
    else:
        states = [(item.delivery_id, item.claim_token, item.state) for item in items]
        statements = [
            repository.insert_attempts_statement([item.attempt for item in items]),
            repository.finish_attempts_statement(states),
        ]
    for subscription_id, reason, now in _disabling(items):
        statements.append(repository.disable_subscription_statement(subscription_id, reason, now))
    return statements


def _disabling(items: list[AttemptRecord]) -> list[tuple[str, str, datetime]]:
    """(subscription id, reason, time) of each subscription these results disable."""
    return [
        (*item.disable_subscription, item.now)
        for item in items
        if item.disable_subscription is not None and item.now is not None
    ]


def _stored(session: Session) -> None:
    for _, future in session.info.pop(RIDING, []):
        if not future.done():
            future.set_result(None)
