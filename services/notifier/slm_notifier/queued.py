"""Fresh deliveries of a transaction, written together in one statement when it commits.

A consumer batch fans out many events in one transaction; one INSERT for all their deliveries costs
one round trip instead of one per event. Rows fanned out inside a savepoint (the inbox's savepoint
around an event that was delivered before, or around each event of the batch's re-run after one
failed) are written at once, so rolling the savepoint back drops them with the rest of that event's
effects; rows kept for the commit belong to the outer transaction, which a savepoint's rollback does
not touch. Until the commit (or `write_queued`) they are not in the database: a read in the same
transaction does not see them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from slm_notifier import fresh, repository

QUEUED = "slm_notifier_queued_deliveries"


async def queue_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write `rows` in this transaction: at once inside a savepoint, else with the others when it commits."""
    if not rows:
        return
    if session.in_nested_transaction():
        await repository.insert_deliveries(session, rows)
        return
    queued: list[dict[str, Any]] | None = session.info.get(QUEUED)
    if queued is None:
        queued = session.info[QUEUED] = []
        sync = session.sync_session
        if not event.contains(sync, "before_commit", _write_queued):
            event.listen(sync, "before_commit", _write_queued)
            event.listen(sync, "after_transaction_end", _forget_queued)
    queued.extend(rows)


async def write_queued(session: AsyncSession) -> None:
    """Write the deliveries kept for the commit now (before a statement in this transaction reads them)."""
    rows = session.info.pop(QUEUED, None)
    if rows:
        fresh.stamp_leases(session.sync_session, rows)
        await repository.insert_deliveries(session, rows)


def _write_queued(session: Session) -> None:
    # before_commit fires for a savepoint's release too: the rows wait for the outermost commit, so a
    # failure to write them fails the transaction, never one event's savepoint. The outermost commit may
    # find a savepoint still open (begun without a context manager): it fires before_commit while the
    # savepoint is the current transaction, then releases the savepoint (firing it again), so "inside a
    # savepoint" alone cannot tell a release from the commit; the rows are written once the outermost
    # transaction is being prepared, into the open savepoint that the commit releases right after.
    if session.in_nested_transaction() and not outermost_committing(session):
        return
    rows = session.info.pop(QUEUED, None) or []
    # leases start now; the fresh jobs' subscriptions are read again (on PostgreSQL with the insert)
    if not fresh.before_commit(session, rows) and rows:
        session.execute(insert(repository.DELIVERIES), rows)


def outermost_committing(session: Session) -> bool:
    """Whether the outermost transaction is preparing its commit (the step that fires before_commit).

    SQLAlchemy keeps this on the transaction only in private attributes: should they change, the commit
    fails rather than dropping the rows (and the tests on an open savepoint fail).
    """
    root = session.get_transaction()
    if root is None:
        return False
    if not hasattr(root, "_current_fn"):
        raise RuntimeError("cannot tell a savepoint's release from the commit: rows kept for it not written")
    return getattr(root._current_fn, "__name__", None) == "_prepare_impl"


def _forget_queued(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction ended (a rollback, or a commit that wrote them)
        session.info.pop(QUEUED, None)
