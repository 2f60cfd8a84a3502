"""An objective evaluated as of any instant (or over any period) from stored data, without writing anything."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, versioned
from slm_measurement.agreed import Agreed, agreed_of, as_defined_at, counted_ranges
from slm_measurement.domain import maintenance, observed
from slm_measurement.domain.budget import OCCURRENCES, Tally, slice_tally
from slm_measurement.domain.windows import MINUTE, Bounds, floor_minute
from slm_measurement.evaluator import (
    TICKET_TIME,
    WINDOW,
    Measurement,
    Plan,
    Read,
    counted_parts,
    excluded_of,
    judge,
    plan,
    read_judged,
    read_plan,
)
from slm_measurement.models import Objective
from slm_measurement.thresholds import counted_indicator

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PERIOD = timedelta(days=400)


class InstantError(ValueError):
    """An instant or period that cannot be evaluated; `field` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Evaluated:
    """One read-only evaluation: what it read (the plan and its tallies) and what it found."""

    as_of: datetime
    planned: Plan
    tallies: dict[str, Tally]
    found: Measurement
    objective: Objective = field(repr=False)
    read: Read | None = field(default=None, repr=False)


def aware(instant: datetime) -> datetime:
    """The instant in UTC (a naive one is read as UTC)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def checked_instant(field: str, instant: datetime, *, now: datetime, max_future: timedelta) -> datetime:
    """The instant in UTC if it lies between 1970 and now + max_future; InstantError naming `field` if not."""
    instant = aware(instant)
    if instant < EPOCH:
        raise InstantError(field, "must not be before 1970-01-01T00:00:00Z")
    if instant > now + max_future:
        raise InstantError(field, f"must not be later than now + {int(max_future.total_seconds())} s")
    return instant


def period_end(start: datetime, end: datetime, *, now: datetime) -> datetime:
    """The instant a period is evaluated as of: its end, or now if sooner; InstantError if it is not a period."""
    first, stop = floor_minute(start), floor_minute(end)
    if stop <= first:
        raise InstantError("end", "must be at least a minute after start")
    if stop - first > MAX_PERIOD:
        raise InstantError("end", f"a period is at most {MAX_PERIOD.days} days")
    return min(stop - timedelta(microseconds=1), now)


def period_plan(
    objective: Objective, start: datetime, end: datetime, *, now: datetime, agreed: Agreed | None = None
) -> tuple[datetime, Plan]:
    """The plan of an evaluation over [start, end) (minute bounds), as of its end or now if sooner."""
    as_of = period_end(start, end, now=now)
    first, stop = floor_minute(start), floor_minute(end)
    planned = plan(objective, now=as_of)
    bounds = Bounds(first, stop)
    ranges = {**planned.ranges, WINDOW: Bounds(first, min(stop, planned.now_end))}
    excluded = excluded_of(objective, ranges, max(stop, planned.now_end))
    counted = counted_ranges(agreed, objective.objective_id, ranges)
    segments = versioned.segments(objective, agreed, counted)
    # The tiers' factors are the period's, worked out from its bounds when judged (not the window's).
    return as_of, replace(
        planned, bounds=bounds, ranges=ranges, excluded=excluded, counted=counted, segments=segments, factors=None
    )


async def _slice_tallies(session: AsyncSession, objective: Objective, planned: Plan) -> dict[str, Tally]:
    """Timeslice tallies of every range from minute rows (never from or into the slice cache)."""
    first = min(int(r.start.timestamp()) // MINUTE for r in planned.ranges.values())
    stop = max(int(r.end.timestamp()) // MINUTE for r in planned.ranges.values())
    excluded = maintenance.minutes_in(planned.excluded)
    rows = await buckets.minute_rows(
        session,
        tenant=objective.tenant,
        service=objective.service_key,
        indicator=counted_indicator(objective),
        first=first,
        stop=stop,
        scope=objective.scope,
    )
    rows = observed.bad_minutes(rows, observed.minutes_of(observed.spans_of(objective.observed)), first, stop)
    rows = [row for row in rows if row[0] not in excluded]
    slice_minutes = max((objective.timeslice_seconds or MINUTE) // MINUTE, 1)
    target = objective.timeslice_target if objective.timeslice_target is not None else objective.target
    tallies = {}
    for label, parts in counted_parts(planned.ranges, planned.counted).items():
        spans = [(int(p.start.timestamp()) // MINUTE, int(p.end.timestamp()) // MINUTE) for p in parts]
        inside = [row for row in rows if any(lo <= row[0] < hi for lo, hi in spans)]
        tallies[label] = slice_tally(
            inside, slice_minutes=slice_minutes, slice_target=target, method=objective.budgeting_method
        )
    return tallies


async def read_only(session: AsyncSession, objective: Objective, planned: Plan) -> Read:
    """The plan's tallies read without writing, cut by version when an amendment changed the terms in a range."""
    if planned.segments is not None:
        return await read_judged(session, objective, planned, cached=False)
    return Read(await read_only_tallies(session, objective, planned))


async def read_only_tallies(session: AsyncSession, objective: Objective, planned: Plan) -> dict[str, Tally]:
    """Good and total of every range of a plan, read without writing (timeslices bypass the cache)."""
    if objective.indicator_kind == TICKET_TIME or objective.budgeting_method == OCCURRENCES:
        return await read_plan(session, objective, planned)
    return await _slice_tallies(session, objective, planned)


async def evaluate_at(
    session: AsyncSession,
    objective: Objective,
    *,
    at: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime,
) -> Evaluated:
    """Evaluate the objective as of `at` (its window then) or over [start, end); nothing is stored.

    The objective is read as the version in force at that instant defined it, and only time while a
    version carrying it was in force is counted.
    """
    agreed = await agreed_of(session, objective)
    if start is not None or end is not None:
        if start is None or end is None:
            raise InstantError("start" if start is None else "end", "start and end go together")
        if at is not None:
            raise InstantError("at", "give either at or start and end")
        as_of = period_end(start, end, now=now)
        defined = as_defined_at(objective, agreed, as_of)
        as_of, planned = period_plan(defined, start, end, now=now, agreed=agreed)
    else:
        as_of = at or now
        defined = as_defined_at(objective, agreed, as_of)
        planned = plan(defined, now=as_of, agreed=agreed)
    read = await read_only(session, defined, planned)
    found = judge(defined, planned, read.tallies, now=as_of, targets=read.targets)
    return Evaluated(as_of, planned, read.tallies, found, defined, read)
