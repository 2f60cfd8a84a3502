"""Claims on due deliveries: which are due, claiming them for one worker (other replicas skip locked rows),
renewing and releasing the claim, and reading claimed deliveries with what they need of their subscription."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier.models import PENDING
from slm_notifier.repository import DELIVERIES, SUBSCRIPTIONS, D, S


def _due(now: datetime) -> Any:
    return and_(D.status == PENDING, D.next_attempt_at <= now, or_(D.claimed_until.is_(None), D.claimed_until < now))


def any_due_statement(now: datetime) -> Select[Any]:
    """One due delivery's id, if there is any (whoever's subscription)."""
    return select(D.id).where(_due(now)).limit(1)


def next_lease_end_statement(now: datetime) -> Select[Any]:
    """When the earliest claim still held on a pending delivery ends (a crashed worker's is taken then).

    A claimed delivery was due when it was claimed (`_claim`; a fresh one is written due, `fan_out`), and an
    attempt's result that moves `next_attempt_at` on ends the claim in the same statement: `next_attempt_at <= now`
    drops no claimed row, and makes the read a range seek on `ix_deliveries_due` (status, next_attempt_at)."""
    return select(func.min(D.claimed_until)).where(
        D.status == PENDING, D.next_attempt_at <= now, D.claimed_until >= now
    )


JOB_COLUMNS = (
    "id",
    "tenant",
    "subscription_id",
    "event_id",
    "event_type",
    "event_time",
    "payload",
    "escalation_level",
    "notification_id",
    "round_attempts",
    "attempt_count",
    "claim_token",
)
JOB_SUBSCRIPTION_COLUMNS = (
    S.channel,
    S.target,
    S.enabled,
    S.secret,
    S.previous_secret,
    S.previous_secret_expires_at,
    S.language,
)


def _claim(
    *, now: datetime, limit: int, lease_until: datetime, token: str, busy_subscriptions: Collection[str]
) -> Update:
    """Mark up to `limit` due deliveries claimed, skipping busy subscriptions and rows other replicas hold locked."""
    query = select(D.id).where(_due(now))
    if busy_subscriptions:
        query = query.where(D.subscription_id.not_in(list(busy_subscriptions)))
    chosen = query.order_by(D.next_attempt_at, D.id).limit(limit).with_for_update(skip_locked=True)
    # One statement: the rows are chosen (others' locked ones skipped) and marked in the same round trip.
    return (
        update(DELIVERIES)
        .where(D.id.in_(chosen.scalar_subquery()))
        .values(claimed_until=lease_until, claim_token=token)
    )


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_until: datetime,
    token: str,
    busy_subscriptions: Collection[str] = (),
) -> list[str]:
    """Reserve up to `limit` due deliveries for this worker, skipping subscriptions already at their
    limit in flight; other replicas skip locked rows."""
    claim = _claim(now=now, limit=limit, lease_until=lease_until, token=token, busy_subscriptions=busy_subscriptions)
    claimed = await session.scalars(claim.returning(D.id))
    return list(claimed.all())


async def claim_due_jobs(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_until: datetime,
    token: str,
    busy_subscriptions: Collection[str] = (),
) -> list[Row[Any]]:
    """As `claim_due`, returning the claimed deliveries as `jobs_statement` reads them, in the same statement
    (PostgreSQL: the claim is a data-modifying CTE joined to the subscriptions)."""
    claim = _claim(now=now, limit=limit, lease_until=lease_until, token=token, busy_subscriptions=busy_subscriptions)
    claimed = claim.returning(*(D[name] for name in JOB_COLUMNS)).cte("claimed")
    C = claimed.c
    query = select(*(C[name] for name in JOB_COLUMNS), *JOB_SUBSCRIPTION_COLUMNS).select_from(
        claimed.outerjoin(SUBSCRIPTIONS, S.id == C.subscription_id)
    )
    return list((await session.execute(query)).all())


def jobs_statement(ids: list[str]) -> Select[Any]:
    """Claimed deliveries with what they need of their subscription (None columns if it is gone)."""
    return (
        select(*(D[name] for name in JOB_COLUMNS), *JOB_SUBSCRIPTION_COLUMNS)
        .select_from(DELIVERIES.outerjoin(SUBSCRIPTIONS, S.id == D.subscription_id))
        .where(D.id.in_(ids))
    )


async def load_jobs(session: AsyncSession, ids: list[str]) -> Sequence[Row[Any]]:
    """Claimed deliveries with what they need of their subscription (None columns if it is gone)."""
    return (await session.execute(jobs_statement(ids))).all()


async def renew_claims(session: AsyncSession, *, held: Collection[tuple[str, str]], lease_until: datetime) -> None:
    """Extend the lease of the deliveries (id, claim token) this worker still holds."""
    if not held:
        return
    await session.execute(
        update(DELIVERIES)
        .where(D.id == bindparam("b_id"), D.claim_token == bindparam("b_token"))
        .values(claimed_until=lease_until),
        [{"b_id": delivery_id, "b_token": token} for delivery_id, token in held],
    )


async def release_claim(session: AsyncSession, *, delivery_id: str, token: str) -> None:
    """Give a claimed delivery back untouched, for a later round."""
    await session.execute(
        update(DELIVERIES)
        .where(D.id == delivery_id, D.claim_token == token)
        .values(claimed_until=None, claim_token=None)
    )
