"""Whether a status change is the newest told of its objective, for the run of status events a batch applies.

`repository.newest_status` is one upsert per event. A consumer batch's fresh events run one after another
without savepoints (`applied_together`), so the first status event of a run reads ahead for the whole run
(its status events up to the batch's next `agreement.activated`, the one event whose handler changes what is
known of an agreement; the burn alerts measurement emits after each status change do not end it): what is
known of the agreements, and the latest observation of each objective, so each event is then decided in memory
in its turn and the statuses kept are written in one statement as the transaction commits. The answers are an
upsert per event's; a run is read ahead only when that costs fewer statements than its upserts would.
- SQLite: the transaction holds the write lock from its first statement (BEGIN IMMEDIATE); nothing else
  changes the table until it commits, so the run's latest observations are simply read.
- PostgreSQL: two replicas may apply statuses of one objective at once, and only an upsert tells which wins.
  The first status of each objective in the run is upserted ahead, in one statement; that decides it as its
  own upsert would and locks the objective's row until the commit, so the statuses after it are decided in
  memory (against the row read again only where the first was not kept and the objective comes again).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import Row
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from slm_notifier import repository
from slm_notifier.queued import outermost_committing
from slm_shared.bus.batches import applied_together
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import ObjectiveStatusV1

RUN = "slm_notifier_status_run"  # session.info: the transaction's `_Run`
STATUS_TYPES = frozenset(
    (EVENTS.objective_at_risk.type, EVENTS.objective_breached.type, EVENTS.objective_recovered.type)
)
AGREEMENT_CHANGES = frozenset((EVENTS.agreement_activated.type, EVENTS.agreement_activated_v2.type))

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
    kept: dict[str, bool] = field(default_factory=dict)  # PostgreSQL: events upserted ahead, whether kept
    agreements: dict[tuple[str, str], Known] = field(default_factory=dict)
    unwritten: dict[Objective, dict[str, Any]] = field(default_factory=dict)


async def newest_status(
    session: AsyncSession, event: CloudEvent, payload: ObjectiveStatusV1
) -> Known | Row[Any] | None:
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
    kept = run.kept.pop(event.id, None)
    if kept is None:
        latest = run.latest.get(objective)
        if latest is not None and latest >= payload.observed_at:
            return None
        run.unwritten[objective] = _row(event.tenant, payload)
    elif not kept:
        return None
    run.latest[objective] = payload.observed_at
    return run.agreements.get((event.tenant, payload.agreement_id), UNKNOWN)


async def _run_of(session: AsyncSession, event: CloudEvent) -> _Run | None:
    """The run read ahead that holds `event`, read now if it starts one; None: the event has its own upsert."""
    run: _Run | None = session.info.get(RUN)
    if run is not None and event.id in run.events:
        return run
    postgresql = session.get_bind().dialect.name == "postgresql"
    ahead = {} if session.in_nested_transaction() else _ahead(applied_together(session), event)
    if not _worth_reading(ahead, postgresql=postgresql):
        if run is not None:  # what this transaction decided goes in before an upsert reads the table
            if run.unwritten:
                await session.execute(repository.STORE_STATUS, list(run.unwritten.values()))
            session.info.pop(RUN)
        return None
    if run is None:
        run = session.info[RUN] = _Run()
        sync = session.sync_session
        if not sa_event.contains(sync, "before_commit", _write_unwritten):
            sa_event.listen(sync, "before_commit", _write_unwritten)
            sa_event.listen(sync, "after_transaction_end", _forget)
    run.events = set(ahead)
    objectives = {(item.tenant, p.agreement_id, p.objective_id) for item, p in ahead.values()}
    unread = objectives - run.read
    if postgresql:
        unread = await _upsert_firsts(session, run, ahead)
    run.latest.update(await repository.latest_observations(session, unread))
    run.read |= unread
    await _read_agreements(session, run, {(tenant, agreement) for tenant, agreement, _ in objectives})
    return run


def _worth_reading(ahead: dict[str, tuple[CloudEvent, ObjectiveStatusV1]], *, postgresql: bool) -> bool:
    """Whether reading the run ahead costs fewer statements than an upsert per event: on SQLite the latest
    observations, the agreements and the write at the commit; on PostgreSQL the firsts' upsert and the
    agreements, and where an objective comes again its read and the write at the commit."""
    per_objective = Counter((item.tenant, p.agreement_id, p.objective_id) for item, p in ahead.values())
    cost = 2 if postgresql and all(count == 1 for count in per_objective.values()) else 3 + postgresql
    return len(ahead) > cost


async def _upsert_firsts(
    session: AsyncSession, run: _Run, ahead: dict[str, tuple[CloudEvent, ObjectiveStatusV1]]
) -> set[Objective]:
    """PostgreSQL: the upsert of each objective's first status in the run, in one statement. It decides those
    events as an upsert each would, even against a replica's at once, and locks the rows it changed until the
    commit; the objectives whose rows it did not change and that come again in the run are returned, to be read
    (under a lock taken by the same statement: ON CONFLICT locks the row it conflicts with)."""
    firsts: dict[Objective, CloudEvent] = {}
    count: Counter[Objective] = Counter()
    for item, payload in ahead.values():
        objective = (item.tenant, payload.agreement_id, payload.objective_id)
        count[objective] += 1
        if objective not in run.read:
            firsts.setdefault(objective, item)
    # ordered by objective, so two runs at once lock the rows they share in one order. Only within a run: a
    # transaction's later run (after an agreement event) may lock in another order than a replica's, and of two
    # such transactions PostgreSQL ends one as a deadlock; its batch then goes one event at a time
    told = await repository.upsert_statuses(
        session, [_row(item.tenant, ahead[item.id][1]) for _, item in sorted(firsts.items())]
    )
    for objective, item in firsts.items():
        run.kept[item.id] = objective in told
    run.read |= told  # their latest observation is the first's, set as it is decided
    return {objective for objective in firsts if objective not in told and count[objective] > 1}


async def _read_agreements(session: AsyncSession, run: _Run, agreements: set[tuple[str, str]]) -> None:
    """What is known of the run's agreements (read for each run: an agreement event before it may change one)."""
    known = await repository.agreements_known(session, agreements)
    run.agreements = dict.fromkeys(agreements, UNKNOWN)
    run.agreements.update(
        {
            (r.tenant, r.agreement_id): Known(r.consumer_party_id, r.provider_party_id, r.escalation_seconds)
            for r in known
        }
    )


def _ahead(together: list[CloudEvent], first: CloudEvent) -> dict[str, tuple[CloudEvent, ObjectiveStatusV1]]:
    """Each status event from `first` on, with its payload, up to the batch's next `agreement.activated`."""
    ids = [e.id for e in together]
    if first.id not in ids:
        return {}
    ahead: dict[str, tuple[CloudEvent, ObjectiveStatusV1]] = {}
    for item in together[ids.index(first.id) :]:
        if item.type in AGREEMENT_CHANGES:
            break
        if item.type not in STATUS_TYPES:
            continue  # its handler neither writes the statuses seen nor what is known of an agreement
        try:
            ahead[item.id] = (item, item.payload(ObjectiveStatusV1))
        except ValidationError:
            break  # its handler fails, rolling the transaction back
    return ahead


def _row(tenant: str, payload: ObjectiveStatusV1) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "agreement_id": payload.agreement_id,
        "objective_id": payload.objective_id,
        "status": payload.status,
        "observed_at": payload.observed_at,
    }


def _write_unwritten(session: Session) -> None:
    # before_commit fires for a savepoint's release too: the statuses wait for the outermost commit
    # (`queued._write_queued`)
    if session.in_nested_transaction() and not outermost_committing(session):
        return
    run: _Run | None = session.info.get(RUN)
    if run is not None and run.unwritten:
        session.execute(repository.STORE_STATUS, list(run.unwritten.values()))
        run.unwritten = {}


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(RUN, None)
