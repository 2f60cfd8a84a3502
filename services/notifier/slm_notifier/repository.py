"""All notifier SQL."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Integer,
    Row,
    Select,
    Table,
    Text,
    TextClause,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_notifier.models import PENDING, AgreementView, Delivery, DeliveryAttempt, ObjectiveStatusSeen, Subscription
from slm_shared.db import UTCDateTime

DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
SUBSCRIPTIONS = cast(Table, Subscription.__table__)  # type: ignore[attr-defined]
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)  # type: ignore[attr-defined]
AGREEMENTS = cast(Table, AgreementView.__table__)  # type: ignore[attr-defined]
STATUSES_SEEN = cast(Table, ObjectiveStatusSeen.__table__)  # type: ignore[attr-defined]
D = DELIVERIES.c
S = SUBSCRIPTIONS.c


async def get_subscription(session: AsyncSession, *, tenant: str, subscription_id: str) -> Subscription | None:
    row = await session.scalar(
        select(Subscription).where(col(Subscription.tenant) == tenant, col(Subscription.id) == subscription_id)
    )
    return row


async def list_subscriptions(
    session: AsyncSession, *, tenant: str, limit: int, offset: int
) -> tuple[Sequence[Subscription], int]:
    query = select(Subscription).where(col(Subscription.tenant) == tenant)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(S.created_at, S.id).limit(limit).offset(offset))
    return rows.all(), total


async def delete_subscription(session: AsyncSession, *, tenant: str, subscription_id: str) -> None:
    await session.execute(delete(SUBSCRIPTIONS).where(S.tenant == tenant, S.id == subscription_id))


async def enabled_subscriptions(session: AsyncSession, *, tenant: str) -> Sequence[Row[Any]]:
    """What fan-out needs of a tenant's enabled subscriptions, and what a fresh delivery's attempt needs of them
    (the secrets as stored, decrypted only for an attempt: see `fresh.FreshJob`)."""
    query = select(
        S.id,
        S.event_types,
        S.filters,
        S.channel,
        S.target,
        S.escalation_seconds,
        S.language,
        type_coerce(S.secret, Text).label("secret_token"),
        type_coerce(S.previous_secret, Text).label("previous_secret_token"),
        S.previous_secret_expires_at,
        S.version,
    ).where(S.tenant == tenant, S.enabled.is_(True))
    return (await session.execute(query)).all()


def subscription_versions_statement(ids: Collection[str]) -> Select[Any]:
    """(id, version, enabled) of these subscriptions, as committed now (a deleted one has no row)."""
    return select(S.id, S.version, S.enabled).where(S.id.in_(ids))


# The deliveries' INSERT returning, for each row, its subscription as committed now (NULLs when it was deleted):
# the fresh deliveries' subscriptions are read again without a statement of their own (`fresh.before_commit`).
# (A subquery in RETURNING is written out: SQLAlchemy does not correlate it with the INSERT's table.)
_NOW = "(SELECT s.{column} FROM subscriptions s WHERE s.id = deliveries.subscription_id)"
INSERT_RETURNING_SUBSCRIPTIONS = insert(DELIVERIES).returning(
    D.subscription_id.label("id"),
    literal_column(_NOW.format(column="version"), Integer).label("version"),
    literal_column(_NOW.format(column="enabled"), Boolean).label("enabled"),
)


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Bulk insert deliveries; the (event_id, subscription_id) constraint keeps them once."""
    if rows:
        await session.execute(insert(DELIVERIES), rows)


async def get_agreement(session: AsyncSession, *, tenant: str, agreement_id: str) -> AgreementView | None:
    row = await session.scalar(
        select(AgreementView).where(
            col(AgreementView.tenant) == tenant, col(AgreementView.agreement_id) == agreement_id
        )
    )
    return row


# Written out because SQLAlchemy 2.0 compiles a dialect upsert (`on_conflict_do_update`) on every
# execution; a text statement is compiled once. Same syntax on SQLite and PostgreSQL. The row it
# returns carries what fan-out reads of the agreement (NULL where the agreement is not known), so a
# status change costs one statement, not two.
_KNOWN = "(SELECT a.{column} FROM agreements_view a WHERE a.tenant = :tenant AND a.agreement_id = :agreement_id)"
_STORE = (
    "INSERT INTO objective_status_seen (tenant, agreement_id, objective_id, status, observed_at) "
    "VALUES (:tenant, :agreement_id, :objective_id, :status, :observed_at) "
    "ON CONFLICT (tenant, agreement_id, objective_id) DO UPDATE "
    "SET status = excluded.status, observed_at = excluded.observed_at "
    "WHERE objective_status_seen.observed_at < excluded.observed_at"
)
STORE_STATUS = text(_STORE).bindparams(bindparam("observed_at", type_=UTCDateTime))
NEWEST_STATUS = text(
    _STORE
    + " RETURNING id, "
    + ", ".join(
        f"{_KNOWN.format(column=column)} AS {column}"
        for column in ("consumer_party_id", "provider_party_id", "escalation_seconds")
    )
).bindparams(bindparam("observed_at", type_=UTCDateTime))


async def upsert_statuses(session: AsyncSession, rows: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """PostgreSQL: `NEWEST_STATUS` for rows of distinct objectives in one statement; the objectives whose status
    was kept (inserted, or observed later than the one stored)."""
    if not rows:
        return set()
    statement = postgresql.insert(STATUSES_SEEN).values(rows)
    kept = statement.on_conflict_do_update(
        index_elements=["tenant", "agreement_id", "objective_id"],
        set_={"status": statement.excluded.status, "observed_at": statement.excluded.observed_at},
        where=STATUSES_SEEN.c.observed_at < statement.excluded.observed_at,
    ).returning(STATUSES_SEEN.c.tenant, STATUSES_SEEN.c.agreement_id, STATUSES_SEEN.c.objective_id)
    return {(row.tenant, row.agreement_id, row.objective_id) for row in await session.execute(kept)}


async def latest_observations(
    session: AsyncSession, objectives: Collection[tuple[str, str, str]]
) -> dict[tuple[str, str, str], datetime]:
    """The latest observation stored of each of these (tenant, agreement id, objective id), where there is one."""
    if not objectives:
        return {}
    seen = STATUSES_SEEN.c
    rows = await session.execute(
        select(seen.tenant, seen.agreement_id, seen.objective_id, seen.observed_at).where(
            seen.tenant.in_({tenant for tenant, _, _ in objectives}),
            seen.agreement_id.in_({agreement for _, agreement, _ in objectives}),
            seen.objective_id.in_({objective for _, _, objective in objectives}),
        )
    )  # the unique index's columns in order, so it is searched; the exact triples are picked here
    return {(r.tenant, r.agreement_id, r.objective_id): r.observed_at for r in rows if tuple(r[:3]) in objectives}


async def agreements_known(session: AsyncSession, agreements: Collection[tuple[str, str]]) -> list[Row[Any]]:
    """What fan-out reads of these (tenant, agreement id), as `NEWEST_STATUS` returns it, of those known."""
    if not agreements:
        return []
    A = AGREEMENTS.c
    rows = await session.execute(
        select(A.tenant, A.agreement_id, A.consumer_party_id, A.provider_party_id, A.escalation_seconds).where(
            A.tenant.in_({tenant for tenant, _ in agreements}),
            A.agreement_id.in_({agreement for _, agreement in agreements}),
        )
    )  # the unique index's columns in order, so it is searched; the exact pairs are picked here
    return [row for row in rows if (row.tenant, row.agreement_id) in agreements]


async def agreement_facts(session: AsyncSession, *, tenant: str, agreement_id: str) -> Row[Any] | None:
    """What fan-out reads of an agreement (parties, service, escalation time), without loading an entity."""
    A = AGREEMENTS.c
    query = select(A.consumer_party_id, A.provider_party_id, A.service_key, A.escalation_seconds).where(
        A.tenant == tenant, A.agreement_id == agreement_id
    )
    return (await session.execute(query)).first()


async def newest_status(
    session: AsyncSession, *, tenant: str, agreement_id: str, objective_id: str, status: str, observed_at: datetime
) -> Row[Any] | None:
    """Keep `status` as the objective's latest unless a later one was seen; None when this one is out of date,
    else the agreement's `consumer_party_id`, `provider_party_id` and `escalation_seconds` (None if unknown).

    One upsert: inserted, or updated only where the stored one was observed earlier (two replicas at
    once meet on the unique key, and the later observation wins whichever commits first).
    """
    values = {
        "tenant": tenant,
        "agreement_id": agreement_id,
        "objective_id": objective_id,
        "status": status,
        "observed_at": observed_at,
    }
    return (await session.execute(NEWEST_STATUS, values)).first()


async def list_deliveries(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    subscription_id: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
) -> tuple[Sequence[Delivery], int]:
    query = select(Delivery).where(D.tenant == tenant)
    if subscription_id:
        query = query.where(D.subscription_id == subscription_id)
    if status:
        query = query.where(D.status == status)
    if event_type:
        query = query.where(D.event_type == event_type)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(D.created_at.desc(), D.id).limit(limit).offset(offset))
    return rows.all(), total


async def get_delivery(session: AsyncSession, *, tenant: str, delivery_id: str) -> Delivery | None:
    row = await session.scalar(select(Delivery).where(D.tenant == tenant, D.id == delivery_id))
    return row


async def list_attempts(session: AsyncSession, *, delivery_id: str, up_to: int) -> Sequence[DeliveryAttempt]:
    """A delivery's attempts up to the count read with it, so both describe the same moment."""
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id) == delivery_id, col(DeliveryAttempt.number) <= up_to)
        .order_by(col(DeliveryAttempt.number))
    )
    return rows.all()


async def fail_pending(session: AsyncSession, *, tenant: str, subscription_id: str, reason: str, now: datetime) -> None:
    """Close a subscription's pending deliveries as failed (it was deleted or disabled)."""
    await session.execute(
        update(DELIVERIES)
        .where(D.tenant == tenant, D.subscription_id == subscription_id, D.status == PENDING)
        .values(status="failed", next_attempt_at=None, last_error=reason, updated_at=now, completed_at=now)
    )


def agreements_statement(pairs: set[tuple[str, str]]) -> Select[Any]:
    """Name and parties of the agreements with these ids (filter the rows by tenant with `pairs`)."""
    return select(
        col(AgreementView.tenant),
        col(AgreementView.agreement_id),
        col(AgreementView.name),
        col(AgreementView.consumer_party_id),
        col(AgreementView.provider_party_id),
    ).where(col(AgreementView.agreement_id).in_({agreement_id for _, agreement_id in pairs}))


def insert_attempts_statement(attempts: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Attempts' rows inserted in one statement (with its parameters; `attempts` not empty)."""
    return insert(ATTEMPTS), attempts


def finish_attempts_statement(items: list[tuple[str, str, dict[str, Any]]]) -> tuple[Any, list[dict[str, Any]]]:
    """Attempts' results applied in one statement (with its parameters; `items` not empty), each only where
    this worker still holds the claim."""
    names = list(items[0][2])
    statement = (
        update(DELIVERIES)
        .where(D.id == bindparam("b_id"), D.claim_token == bindparam("b_token"))
        .values({**{name: bindparam(f"b_{name}") for name in names}, "claimed_until": None, "claim_token": None})
    )
    params = [
        {"b_id": delivery_id, "b_token": token, **{f"b_{name}": values[name] for name in names}}
        for delivery_id, token, values in items
    ]
    return statement, params


@functools.cache
def _record_and_finish_statement(attempt_names: tuple[str, ...], state_names: tuple[str, ...]) -> TextClause:
    # Written out, for PostgreSQL alone (a data-modifying CTE), and compiled once per shape of the items.
    assignments = ", ".join(f"{name} = :b_{name}" for name in state_names)
    sql = (
        f"WITH finished AS (UPDATE deliveries SET {assignments}, claimed_until = NULL, claim_token = NULL "
        "WHERE id = :b_id AND claim_token = :b_token RETURNING id) "
        f"INSERT INTO delivery_attempts ({', '.join(attempt_names)}) "
        f"VALUES ({', '.join(f':a_{name}' for name in attempt_names)})"
    )
    return text(sql).bindparams(
        *(bindparam(f"a_{name}", type_=ATTEMPTS.c[name].type) for name in attempt_names),
        *(bindparam(f"b_{name}", type_=D[name].type) for name in state_names),
    )


def record_and_finish_statement(
    items: list[tuple[dict[str, Any], str, str, dict[str, Any]]],
) -> tuple[TextClause, list[dict[str, Any]]]:
    """PostgreSQL: each attempt's row and its delivery's new state (only where this worker still holds the claim)
    in one statement, executed for all items at once (with its parameters; `items` not empty); the same effect
    as the attempts' INSERT followed by `finish_attempts_statement`, a round trip fewer."""
    attempt_names, state_names = tuple(items[0][0]), tuple(items[0][3])
    statement = _record_and_finish_statement(attempt_names, state_names)
    params = [
        {
            "b_id": delivery_id,
            "b_token": token,
            **{f"a_{name}": attempt[name] for name in attempt_names},
            **{f"b_{name}": state[name] for name in state_names},
        }
        for attempt, delivery_id, token, state in items
    ]
    return statement, params


def disable_subscription_statement(subscription_id: str, reason: str, now: datetime) -> tuple[Any, dict[str, Any]]:
    """Disable a subscription (if still enabled), bumping its version: the statement with its parameters."""
    statement = (
        update(SUBSCRIPTIONS)
        .where(S.id == subscription_id, S.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, version=S.version + 1, updated_at=now)
    )
    return statement, {}
