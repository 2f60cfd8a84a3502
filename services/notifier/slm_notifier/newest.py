"""Whether a status change is the newest told of its objective, for the run of status events a batch applies.

`repository.newest_status` is one upsert per event. On SQLite a consumer batch's transaction holds the write lock
from its first statement (BEGIN IMMEDIATE), so nothing else changes the objectives' latest statuses or the
agreements until it commits; and the batch's fresh events run one after another without savepoints
(`applied_together`). There, the first status event of a run reads the latest observations and the agreements of
the whole run (two statements), each event is decided in memory in its turn, and the statuses kept are written in
one statement as the transaction commits: the answers an upsert per event gives, in three statements rather than
one per event (half of a breach delivery's statements). On PostgreSQL two replicas meet on the unique key and only
the upsert can tell which observation wins, so each event keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from slm_notifier import repository
from slm_shared.bus.batches import applied_together
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import ObjectiveStatusV1

RUN = "slm_notifier_status_run"  # session.info: the transaction's `_Run`
STATUS_TYPES = frozenset(
    (EVENTS.objective_at_risk.type, EVENTS.objective_breached.type, EVENTS.objective_recovered.type)
)

Objective = tuple[str, str, str]  # tenant, agreement id, objective id


class Known(NamedTuple):
    """What fan-out reads of the agreement (None where the agreement is not known), as the upsert returns it."""

    consumer_party_id: str | None
    provider_party_id: str | None
    escalation_seconds: int | None


UNKNOWN = Known(None, None, None)


@dataclass
class _Run:
    """The status events read ahead, the latest observation per objective in this transaction, what to write."""

    events: set[str] = field(default_factory=set)
    read: set[Objective] = field(default_factory=set)  # objectives whose latest observation is in `latest` if any
    latest: dict[Objective, datetime] = field(default_factory=dict)
    agreements: dict[tuple[str, str], Known] = field(default_factory=dict)
    unwritten: dict[Objective, dict[str, Any]] = field(default_factory=dict)


async def newest_status(session: AsyncSession, event: CloudEvent, payload: ObjectiveStatusV1) -> Known | Any | None:
    """Keep the event's status as its objective's latest unless a later one was seen: None when it is out of
    date, else what is known of its agreement (`repository.newest_status`)."""
    run = await _run_of(session, event)
    if run is None:
        return await repository.newest_status(
            session,
            tenant=event.tenant,
            agreement_id=payload.agreement_id,
            objective_id=payload.objective_id,
            status=payload.status,
            observed_at=payload.observed_at,
        )
    objective = (event.tenant, payload.agreement_id, payload.objective_id)
    if objective not in run.read:  # the payload names another objective than its raw data did: read it
        await _read(session, run, {objective})
    latest = run.latest.get(objective)
    if latest is not None and latest >= payload.observed_at:
        return None
    run.latest[objective] = payload.observed_at
    run.unwritten[objective] = {
        "tenant": event.tenant,
        "agreement_id": payload.agreement_id,
        "objective_id": payload.objective_id,
        "status": payload.status,
        "observed_at": payload.observed_at,
    }
    agreement = (event.tenant, payload.agreement_id)
    if agreement not in run.agreements:
        await _read(session, run, {objective})
    return run.agreements.get(agreement, UNKNOWN)


async def _run_of(session: AsyncSession, event: CloudEvent) -> _Run | None:
    """The run read ahead that holds `event`, read now if it starts one; None: the event has its own upsert."""
    run: _Run | None = session.info.get(RUN)
    if run is not None and event.id in run.events:
        return run
    ahead = _ahead(applied_together(session), event)
    if not ahead or session.get_bind().dialect.name != "sqlite" or session.in_nested_transaction():
        if run is not None:  # what this transaction decided goes in before an upsert reads the table
            if run.unwritten:
                await session.execute(repository.STORE_STATUS, list(run.unwritten.values()))
            session.info.pop(RUN)
        return None
    if run is None:
        run = session.info[RUN] = _Run()
        sa_event.listen(session.sync_session, "before_commit", _write_unwritten)
        sa_event.listen(session.sync_session, "after_transaction_end", _forget)
    run.agreements = {}  # read for each run: an agreement event before it, in this transaction, may have changed one
    await _read(session, run, set(ahead.values()))
    run.events = set(ahead)
    return run


async def _read(session: AsyncSession, run: _Run, objectives: set[Objective]) -> None:
    """The stored latest observations of `objectives` not read yet, and what is known of their agreements."""
    unread = objectives - run.read
    run.latest.update(await repository.latest_observations(session, unread))
    run.read |= unread
    agreements = {(tenant, agreement) for tenant, agreement, _ in objectives}
    known = await repository.agreements_known(session, agreements)
    run.agreements.update({pair: UNKNOWN for pair in agreements})
    run.agreements.update(
        {
            (r.tenant, r.agreement_id): Known(r.consumer_party_id, r.provider_party_id, r.escalation_seconds)
            for r in known
        }
    )


def _ahead(together: list[CloudEvent], first: CloudEvent) -> dict[str, Objective]:
    """The objective of each status event from `first` on, up to the batch's next event of another type."""
    ids = [e.id for e in together]
    if first.id not in ids:
        return {}
    ahead: dict[str, Objective] = {}
    for e in together[ids.index(first.id) :]:
        data = e.data if isinstance(e.data, dict) else {}
        agreement, objective = data.get("agreement_id"), data.get("objective_id")
        if e.type not in STATUS_TYPES or not isinstance(agreement, str) or not isinstance(objective, str):
            break  # its handler may change an agreement (or fails, rolling everything back)
        ahead[e.id] = (e.tenant, agreement, objective)
    return ahead


def _write_unwritten(session: Session) -> None:
    run: _Run | None = session.info.get(RUN)
    if run is not None and run.unwritten:
        session.execute(repository.STORE_STATUS, list(run.unwritten.values()))
        run.unwritten = {}


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(RUN, None)
