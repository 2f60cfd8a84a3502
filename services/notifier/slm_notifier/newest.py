"""Whether a status change is the newest told of its objective, for the run of status events a batch applies.

`repository.newest_status` is one upsert per event. A consumer batch's fresh events run one after another
without savepoints (`applied_together`), so the first status event of a run reads ahead for the whole run
(up to the batch's next event of another type, whose handler may change an agreement): what is known of the
agreements, and the latest observation of each objective, so each event is then decided in memory in its turn
and the statuses kept are written in one statement as the transaction commits. The answers are an upsert
per event's, in a few statements per run rather than one per event (half of a breach delivery's statements):
- SQLite: the transaction holds the write lock from its first statement (BEGIN IMMEDIATE); nothing else
  changes the table until it commits, so the run's latest observations are simply read.
- PostgreSQL: two replicas may apply statuses of one objective at once, and only an upsert tells which wins.
  The first status of each objective in the run is upserted ahead, in one statement; that decides it as its
  own upsert would and locks the objective's row until the commit, so the statuses after it are decided in memory.
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
    # PostgreSQL: events whose upsert ran ahead (`_upsert_firsts`): (status, observed at, whether it was the newest)
    decided: dict[str, tuple[str, datetime, bool]] = field(default_factory=dict)
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
    if objective not in run.read:  # never seen: rolled back, each event alone then
        raise RuntimeError(f"the payload of {event.id} names another objective than its data")
    decided = run.decided.pop(event.id, None)
    if decided is not None:
        if decided[:2] != (payload.status, payload.observed_at):  # never seen: rolled back, each event alone then
            raise RuntimeError(f"the status upserted ahead for {event.id} is not its payload's")
        if not decided[2]:
            return None
        run.latest[objective] = payload.observed_at
    else:
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
    return run.agreements.get((event.tenant, payload.agreement_id), UNKNOWN)


async def _run_of(session: AsyncSession, event: CloudEvent) -> _Run | None:
    """The run read ahead that holds `event`, read now if it starts one; None: the event has its own upsert."""
    run: _Run | None = session.info.get(RUN)
    if run is not None and event.id in run.events:
        return run
    ahead = _ahead(applied_together(session), event)
    if not ahead or session.in_nested_transaction():
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
    if session.get_bind().dialect.name == "postgresql":
        await _upsert_firsts(session, run, ahead)
    await _read(session, run, {objective for objective, _ in ahead.values()})
    run.events = set(ahead)
    return run


async def _upsert_firsts(session: AsyncSession, run: _Run, ahead: dict[str, tuple[Objective, CloudEvent]]) -> None:
    """PostgreSQL: the upsert of each objective's first status in the run, in one statement (ordered by objective,
    as replicas lock rows). It decides those events as an upsert each would, even against a replica's at once, and
    locks every row of the run's objectives until the commit, so the statuses after them can be decided in memory."""
    firsts: dict[Objective, CloudEvent] = {}
    for objective, item in ahead.values():
        if objective not in run.read:
            firsts.setdefault(objective, item)
    rows = [
        {"tenant": t, "agreement_id": a, "objective_id": o, "status": e.data["status"], "observed_at": _observed_at(e)}
        for (t, a, o), e in sorted(firsts.items())
    ]
    told = await repository.upsert_statuses(session, rows)
    for row in rows:
        objective = (row["tenant"], row["agreement_id"], row["objective_id"])
        run.decided[firsts[objective].id] = (row["status"], row["observed_at"], objective in told)


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


def _ahead(together: list[CloudEvent], first: CloudEvent) -> dict[str, tuple[Objective, CloudEvent]]:
    """The objective of each status event from `first` on, up to the batch's next event of another type."""
    ids = [e.id for e in together]
    if first.id not in ids:
        return {}
    ahead: dict[str, tuple[Objective, CloudEvent]] = {}
    for e in together[ids.index(first.id) :]:
        data = e.data if isinstance(e.data, dict) else {}
        agreement, objective = data.get("agreement_id"), data.get("objective_id")
        if e.type not in STATUS_TYPES or not isinstance(agreement, str) or not isinstance(objective, str):
            break  # its handler may change an agreement (or fails, rolling everything back)
        if not isinstance(data.get("status"), str) or _observed_at(e) is None:
            break
        ahead[e.id] = ((e.tenant, agreement, objective), e)
    return ahead


def _observed_at(item: CloudEvent) -> datetime | None:
    value = item.data.get("observed_at") if isinstance(item.data, dict) else None
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _write_unwritten(session: Session) -> None:
    run: _Run | None = session.info.get(RUN)
    if run is not None and run.unwritten:
        session.execute(repository.STORE_STATUS, list(run.unwritten.values()))
        run.unwritten = {}


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(RUN, None)
