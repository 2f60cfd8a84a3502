"""One objective's evaluation: tallies read from the rollups for a plan (`planning`), then judged (`judging`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, versioned
from slm_measurement.agreed import agreed_of
from slm_measurement.domain import maintenance, observed
from slm_measurement.domain.budget import (
    OCCURRENCES,
    Tally,
)
from slm_measurement.domain.windows import (
    Bounds,
    clip,
)
from slm_measurement.judging import Measurement as Measurement
from slm_measurement.judging import judge as judge
from slm_measurement.models import Objective
from slm_measurement.planning import DEFAULT_FORECAST_LOOKBACKS as DEFAULT_FORECAST_LOOKBACKS
from slm_measurement.planning import TICKET_TIME as TICKET_TIME
from slm_measurement.planning import WINDOW as WINDOW
from slm_measurement.planning import Counted as Counted
from slm_measurement.planning import Plan as Plan
from slm_measurement.planning import excluded_of as excluded_of
from slm_measurement.planning import format_duration as format_duration
from slm_measurement.planning import maintenance_of as maintenance_of
from slm_measurement.planning import plan as plan
from slm_measurement.planning import policy_of as policy_of
from slm_measurement.planning import window_of as window_of
from slm_measurement.slices import SLICE_CACHE as SLICE_CACHE
from slm_measurement.slices import SliceReader
from slm_measurement.thresholds import counted_indicator
from slm_measurement.tickets import compliance as ticket_compliance


def _signed(counted: list[Bounds], excluded: list[Bounds]) -> list[tuple[Bounds, int]]:
    parts: list[tuple[Bounds, int]] = []
    for bounds in counted:
        parts.append((bounds, 1))
        for interval in excluded:
            if (inside := clip(interval, bounds.start, bounds.end)) is not None:
                parts.append((inside, -1))
    return parts


def batchable(objective: Objective) -> bool:
    """Whether the objective's tallies are plain signed sums of rollups (readable with its series' peers)."""
    return objective.indicator_kind != TICKET_TIME and objective.budgeting_method == OCCURRENCES


def counted_parts(ranges: dict[str, Bounds], counted: Counted | None) -> Counted:
    """Each labelled range as the parts of it that count (the whole range when nothing is clipped)."""
    return {label: counted[label] if counted is not None else [r] for label, r in ranges.items()}


def signed_ranges(
    ranges: dict[str, Bounds], excluded: list[Bounds], counted: Counted | None = None
) -> dict[str, list[tuple[Bounds, int]]]:
    """Each labelled range, only its counted parts, with its maintenance subtracted."""
    return {label: _signed(parts, excluded) for label, parts in counted_parts(ranges, counted).items()}


def _split(ranges: dict[str, Bounds], counted: Counted | None) -> dict[str, Bounds]:
    labelled = counted_parts(ranges, counted).items()
    return {f"{label}|{n}": part for label, parts in labelled for n, part in enumerate(parts)}


def _summed(ranges: dict[str, Bounds], counted: Counted | None, found: dict[str, Tally]) -> dict[str, Tally]:
    totals = {}
    for label, parts in counted_parts(ranges, counted).items():
        total = Tally(0.0, 0.0)
        for n in range(len(parts)):
            total = total + found[f"{label}|{n}"]
        totals[label] = total
    return totals


def objective_ranges(
    objective: Objective, ranges: dict[str, Bounds], excluded: list[Bounds], counted: Counted | None = None
) -> dict[str, list[tuple[Bounds, int]]]:
    """The signed ranges an objective reads: counted parts only, maintenance subtracted, observed spans labelled."""
    signed = signed_ranges(ranges, excluded, counted)
    if objective.observed:
        spans = observed.spans_of(objective.observed)
        for label, parts in counted_parts(ranges, counted).items():
            for part in parts:
                for key, pieces in observed.observed_ranges({label: part}, excluded, spans).items():
                    signed.setdefault(key, []).extend(pieces)
    return signed


async def read_tallies(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    excluded: list[Bounds],
    *,
    now_end: datetime,
    counted: Counted | None = None,
    cached: bool = True,
) -> dict[str, Tally]:
    """Good and total over the counted parts of each labelled range, the excluded intervals left out.

    `cached=False` reads timeslices from minutes only, never from or into the slice cache (whose
    spans hold the stored row's definition).
    """
    if objective.indicator_kind == TICKET_TIME:
        parts = _split(ranges, counted)
        found = (
            await ticket_compliance.range_tallies(
                session,
                tenant=objective.tenant,
                agreement_id=objective.agreement_id,
                indicator=objective.indicator,
                ranges=parts,
            )
            if parts
            else {}
        )
        return _summed(ranges, counted, found)
    if objective.budgeting_method == OCCURRENCES:
        found = await buckets.range_tallies(
            session,
            tenant=objective.tenant,
            service=objective.service_key,
            indicator=counted_indicator(objective),
            ranges=objective_ranges(objective, ranges, excluded, counted),
            scope=objective.scope,
        )
        return observed.reclassify(found)
    reader = SliceReader(session, objective, now_end, maintenance.minutes_in(excluded), cached)
    return _summed(ranges, counted, await reader.tallies(_split(ranges, counted)))


async def tally_ranges(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    *,
    now_end: datetime,
    extent_end: datetime | None = None,
) -> tuple[dict[str, Tally], list[Bounds]]:
    """Good and total of the objective over each labelled range, maintenance left out; and the maintenance."""
    excluded = excluded_of(objective, ranges, extent_end)
    return await read_tallies(session, objective, ranges, excluded, now_end=now_end), excluded


async def read_plan(session: AsyncSession, objective: Objective, planned: Plan) -> dict[str, Tally]:
    """The tallies of a plan (its counted parts only)."""
    return await read_tallies(
        session, objective, planned.ranges, planned.excluded, now_end=planned.now_end, counted=planned.counted
    )


@dataclass(frozen=True)
class Read:
    """A plan's tallies, the target each range is judged against, and each range's version segments."""

    tallies: dict[str, Tally]
    targets: dict[str, float] | None = None
    segments: dict[str, list[versioned.SegmentTally]] | None = None


async def read_segmented(
    session: AsyncSession,
    objective: Objective,
    ranges: dict[str, Bounds],
    segments: tuple[versioned.Segment, ...],
    *,
    now_end: datetime,
    cached: bool = True,
    maintenance_left_out: bool = True,
) -> Read:
    """Each version's parts read against its own terms (threshold, maintenance, slice rule), then combined."""
    extent = max(r.end for r in ranges.values())
    found = []
    for segment in segments:
        defined = segment.objective
        excluded = excluded_of(defined, ranges, extent) if maintenance_left_out else []
        keep = cached and defined.agreement_version == objective.agreement_version
        tallies = await read_tallies(
            session, defined, ranges, excluded, now_end=now_end, counted=segment.parts, cached=keep
        )
        found.append((segment, tallies))
    tallies, targets, detail = versioned.combined(objective, found)
    return Read(tallies, targets, detail)


async def read_judged(session: AsyncSession, objective: Objective, planned: Plan, *, cached: bool = True) -> Read:
    """The plan's tallies, cut by version when an amendment changed the terms inside a range."""
    if planned.segments is None:
        return Read(await read_plan(session, objective, planned))
    return await read_segmented(
        session, objective, planned.ranges, planned.segments, now_end=planned.now_end, cached=cached
    )


async def measure(session: AsyncSession, objective: Objective, *, now: datetime) -> Measurement:
    """Tally the window and every lookback while the agreement carried the objective, then judge them."""
    planned = plan(objective, now=now, agreed=await agreed_of(session, objective))
    read = await read_judged(session, objective, planned)
    return judge(objective, planned, read.tallies, now=now, targets=read.targets)
