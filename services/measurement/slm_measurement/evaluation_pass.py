"""A pass over locked due objectives: rollups read for many objectives at once, outcomes written in bulk.

Objectives whose tallies are sums of rollups are read together (one query per set of objectives
reading the same ranges) and written together: one UPDATE executed for many rows, one INSERT of
transition rows and their outbox events. A chunk of the periodic pass (`evaluate_ids`) is first
evaluated with no savepoint at all; only if that fails is it evaluated again in a new transaction,
its read and its write each in a savepoint, and if that write fails, each objective on its own
savepoint, so one bad objective is skipped alone; a transient failure is raised rather than retried
here, and a chunk holding an objective that failed before is guarded at once (`chunk_failures`).
Events stay exactly-once: they commit in the same transaction as the status they report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import agreed, buckets, lookups, pass_locks, repository
from slm_measurement.bulk_update import EncodedJSON, update_outcomes
from slm_measurement.chunk_failures import ChunkFailures, failed_lately, objective_failed, remember, transient
from slm_measurement.domain import observed
from slm_measurement.domain.alerts import alert_changes
from slm_measurement.domain.budget import Tally
from slm_measurement.domain.status import transition
from slm_measurement.evaluator import (
    Measurement,
    Plan,
    batchable,
    measure,
    objective_ranges,
    plan,
)
from slm_measurement.gc_spacing import collections_spaced
from slm_measurement.judging import Reading, details_json, judge_reading, read, read_alike
from slm_measurement.judging import details_of as details_of
from slm_measurement.models import Objective, new_id
from slm_measurement.recording import record_events as _record_events
from slm_measurement.recording import record_measurement as record_measurement
from slm_measurement.thresholds import counted_indicator
from slm_shared.db import Database, utcnow

logger = logging.getLogger(__name__)

_EVENTS_DUE = "events_due"
# Objectives between two turns of the event loop in a chunk's planning, grouping, judging and row-building
# loops (and the recording of its events); statements and other work in between are not sliced.
SLICE = 25

_T = TypeVar("_T")


async def in_slices(items: Iterable[_T]) -> AsyncIterator[_T]:
    """The items, the event loop given a turn after every `SLICE` of them."""
    for count, item in enumerate(items, 1):
        yield item
        if count % SLICE == 0:
            await asyncio.sleep(0)


IMMEDIATE = text("SET CONSTRAINTS ALL IMMEDIATE")


def _outcome_rows(
    objective: Objective, found: Measurement, now: datetime, details: dict[tuple[int, Any], Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The columns `record_measurement` would set, and its transition row (None without a status change).

    `details` holds the details already encoded per (measurement, budgeting method), and the alert
    changes per (measurement, tiers firing before): objectives judged alike store equal details and
    firing tiers, built once (and never changed once built). The details are JSON text already
    (`details_json`), decoding to what `record_measurement` stores.
    """
    change = transition(found.verdict, objective.last_event)
    method = objective.budgeting_method
    if (stored := details.get((id(found), method))) is None:
        stored = details[(id(found), method)] = EncodedJSON(details_json(found, method))
    previously = tuple(objective.firing_alerts or ())
    if (alerts := details.get((id(found), previously))) is None:
        moves, firing = alert_changes(found.alerts, set(previously))
        alerts = details[(id(found), previously)] = {"moves": moves, "firing": sorted(firing)}
    moves, firing = alerts["moves"], alerts["firing"]
    values = {
        "row_id": objective.id,
        "good": found.window.good,
        "total": found.window.total,
        "attainment": found.attainment,
        "window_start": found.bounds.start,
        "window_end": found.bounds.end,
        "status": change.status,
        "last_event": change.last_event,
        "details": stored,
        "firing_alerts": firing,
        "needs_evaluation": False,
        "evaluated_at": now,
    }
    if change.event is not None or moves:
        values[_EVENTS_DUE] = True  # not a column: `_write_together` records this objective's events
    if change.status == objective.status:
        return values, None
    moved = {
        "id": new_id(),
        "tenant": objective.tenant,
        "objective_row_id": objective.id,
        "at": now,
        "from_status": objective.status,
        "to_status": change.status,
        "event": change.event,
        "attainment": found.attainment,
        "expected_attainment": next((f.expected_attainment for f in found.forecasts), None),
    }
    return values, moved


@dataclass(frozen=True)
class _Reads:
    """Tallies per objective row id, and per row id what it read: (which ranges, which series)."""

    tallies: dict[str, dict[str, Tally]] = field(default_factory=dict)
    sources: dict[str, tuple[int, str, str]] = field(default_factory=dict)


async def _read_together(session: AsyncSession, plans: dict[str, tuple[Objective, Plan]]) -> _Reads:
    """Tallies per objective row id: one query for each set of objectives that read the same ranges."""
    groups: dict[tuple[Any, ...], list[Objective]] = {}
    ranges: dict[tuple[Any, ...], dict[str, list[Any]]] = {}
    # Plans at one `now` with the same window and lookbacks share one `ranges` mapping, and those clipped
    # alike one `counted` mapping (see `plan`): with nothing excluded or observed, their signed ranges and
    # group are worked out once (and the group's key, a tuple of every signed range, hashed once rather than
    # per objective). The plans, alive for the whole chunk, keep those ids from being reused meanwhile.
    shared: dict[tuple[str, str | None, int, int], list[Objective]] = {}
    async for objective, planned in in_slices(plans.values()):
        if planned.segments is not None:
            continue  # an amendment changed its terms inside a range: read alone, by version (`measure`)
        plain = not planned.excluded and not objective.observed
        same = (objective.tenant, objective.scope, id(planned.ranges), id(planned.counted))
        if plain and (members := shared.get(same)) is not None:
            members.append(objective)
            continue
        signed = objective_ranges(objective, planned.ranges, planned.excluded, planned.counted)
        key = (objective.tenant, objective.scope, tuple((k, tuple(v)) for k, v in signed.items()))
        if (members := groups.get(key)) is None:
            members = groups[key] = []
            ranges[key] = signed
        members.append(objective)
        if plain:
            shared[same] = members
    reads = _Reads()
    for number, (key, members) in enumerate(groups.items()):
        tenant, scope, _ = key
        found = await buckets.range_tallies_many(
            session,
            tenant=tenant,
            series=sorted({(o.service_key, counted_indicator(o)) for o in members}),
            ranges=ranges[key],
            scope=scope,
        )
        async for objective in in_slices(members):
            series = (objective.service_key, counted_indicator(objective))
            read = found[series]
            # Only an objective with observed spans reads `observed|` labels to reclassify.
            reads.tallies[objective.id] = observed.reclassify(read) if objective.observed else dict(read)
            reads.sources[objective.id] = (number, *series)
    return reads


def _savepoint(session: AsyncSession, *, guarded: bool) -> AbstractAsyncContextManager[Any]:
    """A savepoint when `guarded` (a failure then undoes only its own part), else nothing (see `evaluate_chunk`)."""
    return session.begin_nested() if guarded else nullcontext()


async def _plan_and_read(
    session: AsyncSession,
    objectives: Sequence[Objective],
    *,
    now: datetime,
    guarded: bool = True,
    agreements: dict[tuple[str, str], agreed.Agreed] | None = None,
) -> tuple[dict[str, tuple[Objective, Plan]], _Reads]:
    """Plans and tallies of the objectives read together (no tallies if that read fails, when `guarded`).

    `agreements`: their agreements' stored versions read already in this transaction (`flagging.terms_of`).
    """
    plans: dict[str, tuple[Objective, Plan]] = {}
    known = (
        agreements
        if agreements is not None
        else await agreed.agreed_many(session, [o for o in objectives if batchable(o)])
    )
    async for objective in in_slices(objectives):
        if batchable(objective):
            try:
                terms = agreed.agreed_for(objective, known)
                plans[objective.id] = (objective, plan(objective, now=now, agreed=terms, share_whole=True))
            except Exception as error:  # noqa: BLE001 - logged, or raised when transient
                objective_failed(session, objective.id, error)
    if not guarded:
        return plans, await _read_together(session, plans)
    try:
        async with session.begin_nested():
            return plans, await _read_together(session, plans)
    except Exception as error:
        if transient(error):
            raise
        logger.exception("reading the rollups together failed; evaluating one objective at a time")
        return plans, _Reads()


async def _write_together(
    session: AsyncSession, judged: list[tuple[Objective, Measurement]], *, now: datetime, guarded: bool = True
) -> int:
    """Store outcomes, transition rows and events in bulk; one at a time (each in a savepoint) if that fails.

    Not `guarded`: no savepoint, and a failure is raised (see `evaluate_chunk`).
    """
    if not judged:
        return 0
    try:
        async with _savepoint(session, guarded=guarded):
            details: dict[tuple[int, Any], Any] = {}
            rows = [_outcome_rows(objective, found, now, details) async for objective, found in in_slices(judged)]
            moves = [moved for _, moved in rows if moved is not None]
            await update_outcomes(session, [values for values, _ in rows], moves)  # and the transition rows
            # Only the objectives with events due are visited again (in slices, as all were).
            due = [(j, r) for j, (r, _) in zip(judged, rows, strict=True) if _EVENTS_DUE in r]
            async for (objective, found), values in in_slices(due):
                _record_events(session, objective, found, values, now=now)
        return len(rows)
    except Exception as error:
        if not guarded or transient(error):
            raise
        logger.exception("bulk write of %d evaluations failed; writing one at a time", len(judged))
    written = 0
    for objective, found in judged:
        try:
            async with session.begin_nested():
                await record_measurement(session, await lookups.entity_of(session, objective), found, now=now)
            written += 1
        except Exception as error:  # noqa: BLE001 - logged, or raised when transient
            objective_failed(session, objective.id, error)
    return written


async def _judge_together(
    session: AsyncSession,
    objectives: Sequence[Objective],
    plans: dict[str, tuple[Objective, Plan]],
    reads: _Reads,
    *,
    now: datetime,
    guarded: bool,
) -> list[tuple[Objective, Measurement]]:
    """The objectives whose tallies were read together, judged (one that fails is logged and left out, when `guarded`).

    Judging is pure: objectives that read the same tallies under the same plan share one reading
    (attainment, bad shares, projections), and those with the same target too are judged once. The
    event loop gets a turn between slices of objectives (`in_slices`).
    """
    judged: list[tuple[Objective, Measurement]] = []
    readings: dict[tuple[Any, ...], tuple[Reading, dict[tuple[float, str | None], Measurement]]] = {}
    # The same reading found again by (what was read, which plan object, window kind) when no observed spans are
    # read: one plan object has one set of everything else `read_alike` keys on (its bounds and their zones, the
    # current minute's end, policy, lookbacks, maintenance and ranges), and the plans, alive for the whole chunk,
    # keep their ids from being reused meanwhile. Spares building and hashing `read_alike`'s key per objective.
    by_plan: dict[tuple[Any, ...], tuple[Reading, dict[tuple[float, str | None], Measurement]]] = {}
    async for objective in in_slices(objectives):
        if objective.id not in reads.tallies:
            continue
        try:
            planned = plans[objective.id][1]
            source = reads.sources[objective.id]
            quick = None if objective.observed else (source, id(planned), objective.window_kind)
            if quick is None or (shared := by_plan.get(quick)) is None:
                alike = read_alike(objective, planned, source)
                if (shared := readings.get(alike)) is None:
                    shared = readings[alike] = (read(objective, planned, reads.tallies[objective.id], now=now), {})
                if quick is not None:
                    by_plan[quick] = shared
            reading, verdicts = shared
            terms = (objective.target, objective.at_risk_rule)
            if (found := verdicts.get(terms)) is None:
                found = verdicts[terms] = judge_reading(reading, objective, planned)
            judged.append((objective, found))
        except Exception as error:
            if not guarded:
                raise
            objective_failed(session, objective.id, error)
    return judged


async def evaluate_chunk(
    session: AsyncSession,
    locked: Sequence[Objective | repository.ObjectiveRow],
    *,
    now: datetime,
    guarded: bool = True,
    agreements: dict[tuple[str, str], agreed.Agreed] | None = None,
) -> int:
    """Evaluate locked objectives in this transaction; one that fails is logged and skipped, the others kept.

    They may be plain rows (see `pass_locks.lock_due_objectives`): planning, reading and judging only
    read their columns, and the outcomes are written in bulk; one evaluated alone, or written alone
    after the bulk write failed, is loaded as an entity first.

    `guarded=False` takes no savepoints: a failure while reading, judging or writing is raised for the
    caller to roll back (the first, optimistic try: a REST ingest's whole transaction,
    `service.ingest_with_guarded_retry`, a guarded ingest's savepoint, `inline_evaluation.evaluate_flagged_here`,
    the periodic pass's chunk, `evaluate_ids`, and the flagged pass's, `flagged_pass.evaluate_flagged`),
    and the SAVEPOINT and RELEASE round trips are spared. A plan that fails is still logged and skipped;
    the count returned tells the caller. A transient failure (`chunk_failures.transient`) is raised even
    when `guarded`.

    `agreements`: the agreements' stored versions when read with the lock (`flagging.terms_of`, SQLite); read here
    otherwise.
    """
    objectives = cast(Sequence[Objective], locked)  # an `ObjectiveRow` reads like the entity
    plans, reads = await _plan_and_read(session, objectives, now=now, guarded=guarded, agreements=agreements)
    judged = await _judge_together(session, objectives, plans, reads, now=now, guarded=guarded)
    evaluated = 0
    for objective in objectives:
        if objective.id in reads.tallies or (objective.id not in plans and batchable(objective)):
            continue  # judged above, or its plan failed (and was logged)
        try:
            async with _savepoint(session, guarded=guarded):
                entity = await lookups.entity_of(session, objective)
                await record_measurement(session, entity, await measure(session, entity, now=now), now=now)
            evaluated += 1
        except Exception as error:
            if not guarded:
                raise
            objective_failed(session, objective.id, error)
    return evaluated + await _write_together(session, judged, now=now, guarded=guarded)


async def evaluate_ids(db: Database, objective_row_ids: list[str], *, interval: timedelta) -> int:
    """Lock these objectives (those still due) and evaluate them in one transaction; how many were stored.

    Optimistic: the chunk is evaluated with no savepoint (`guarded=False`), sparing the SAVEPOINT and
    RELEASE round trips of its read and its write. If that fails on an objective's data or code, the
    transaction is rolled back whole and the chunk evaluated again in a new one, guarded: the bad
    objective is then logged and skipped alone, its siblings stored (`evaluate_chunk`). A transient
    failure (`chunk_failures.transient`), and any failure of the guarded try, is raised for the worker
    to back off. A chunk holding an objective that failed before, unchanged since, is guarded at once.
    """
    failures, locked, guarded = ChunkFailures(), 0, False
    while True:
        try:
            with collections_spaced():
                async with db.session() as session:
                    failures.attach(session)
                    now = utcnow()
                    objectives = await pass_locks.lock_due_objectives(
                        session, objective_row_ids=objective_row_ids, stale_before=now - interval
                    )
                    locked = len(objectives)
                    ids = [o.id for o in objectives]
                    guarded = guarded or await failed_lately(session, ids)
                    if guarded and db.engine.dialect.name == "postgresql":
                        # A deferred constraint or trigger then fails inside the savepoint of its row, not at COMMIT.
                        await session.execute(IMMEDIATE)
                    evaluated = await evaluate_chunk(session, objectives, now=now, guarded=guarded)
                    await remember(session, failures, ids)
            return evaluated
        except Exception as error:
            if guarded or transient(error):
                raise
            logger.warning(
                "evaluating %d objectives together failed; again, each failure isolated", locked, exc_info=error
            )
            guarded = True
