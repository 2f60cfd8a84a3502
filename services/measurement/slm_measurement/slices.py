"""Timeslice tallies of one objective: spans of whole hours from its cache, each checked against its hours' changes.

A timeslice tally is not a sum of rollups (a slice is good or not by its own minutes), so each
objective keeps its tally per span of whole hours holding whole slices (`SliceTally`). A cached
span is used while the change count of its hours (`hour_buckets.changes`, raised by every batch
that writes them, in the batch's transaction) is the one it was computed from; a span whose count
moved (late data) is computed again from its minutes. The count is read before the minutes, so a
batch committed in between leaves the span marked stale, never a stale span marked current. Once
no point can still arrive for a span (the lateness watermark, plus a grace for ingest transactions
still open) and its count was checked, it is final and read without its hours.

An evaluation therefore reads, whatever history is stored: the cached spans of its ranges (empty
spans are cached too), the change counts of the spans not final yet (the last lateness horizon),
and the minutes of the partial hours at each range's ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets
from slm_measurement.domain import observed
from slm_measurement.domain.budget import Tally, slice_tally
from slm_measurement.domain.windows import HOUR, MINUTE, Bounds
from slm_measurement.models import Objective, SliceTally
from slm_measurement.rollup import Rollup
from slm_measurement.thresholds import counted_indicator

HOUR_MINUTES = HOUR // MINUTE
# An ingest batch checks its points' lateness when it starts and commits a little later.
SETTLE_GRACE = timedelta(hours=1)
TALLIES: Table = SliceTally.__table__  # type: ignore[attr-defined]
MAX_SUMMED_LABELS = 64  # ranges summed in one statement (three columns each)


@dataclass
class SliceCache:
    """How long data may still arrive for a minute: the ingest's max lateness (`MEASUREMENT_MAX_LATENESS_SECONDS`)."""

    lateness: timedelta = timedelta(days=7)


SLICE_CACHE = SliceCache()


def final_before(now_end: datetime) -> int:
    """The first minute (since the epoch) a batch may still change: spans ending before it can become final."""
    return int((now_end - SLICE_CACHE.lateness - SETTLE_GRACE).timestamp()) // MINUTE


def slice_minutes(timeslice_seconds: int | None) -> int:
    """Whole minutes per slice of an objective (a minute when not given or shorter)."""
    return max((timeslice_seconds or MINUTE) // MINUTE, 1)


def span_minutes(slice_minutes: int) -> int:
    """Minutes per cached span: whole hours holding whole slices (60 for 5-minute slices, 1740 for 29)."""
    return math.lcm(slice_minutes, HOUR_MINUTES)


async def reopen_late_spans(session: AsyncSession, *, tenant: str, rollup: Rollup, now: datetime) -> None:
    """Mark for a check the cached spans of the batch's services' objectives over hours a span may hold as final.

    Only data more than the grace late does it (an import run with a longer lateness than the evaluators'),
    so points arriving on time issue no statement. The next evaluation compares the spans' change counts.
    A span's length is its objective's own (`span_minutes`: up to 60 days for a slice of 1439 minutes), so
    the objectives are read first and those sharing a span length reopened by one statement.

    On PostgreSQL the objectives are read `FOR SHARE`, after this batch wrote its hours: an evaluation
    about to make spans final holds its objective's row (`SliceReader._hold`) from before it reads their
    hours' counts until it commits, so either it waits for this batch and sees its counts, or this
    statement waits for it and then sees the spans final (read committed: each statement sees commits).
    """
    horizon = int((now - SETTLE_GRACE).timestamp()) // HOUR
    late: dict[str, list[int]] = {}
    for service, _, _, minute in rollup.counts:
        if minute // HOUR_MINUTES < horizon:
            late.setdefault(service, []).append(minute)
    objectives: Table = Objective.__table__  # type: ignore[attr-defined]
    for service, minutes in sorted(late.items()):
        found = await session.execute(
            select(objectives.c.id, objectives.c.timeslice_seconds)
            .where(objectives.c.tenant == tenant, objectives.c.service_key == service)
            .order_by(objectives.c.id)
            .with_for_update(read=True)
        )
        by_unit: dict[int, list[str]] = {}
        for row_id, seconds in found.all():
            by_unit.setdefault(span_minutes(slice_minutes(seconds)), []).append(row_id)
        for unit, ids in sorted(by_unit.items()):
            await session.execute(
                update(TALLIES)
                .where(
                    TALLIES.c.objective_row_id.in_(ids),
                    TALLIES.c.start > min(minutes) - unit,  # the spans holding the batch's first minute, and on
                    TALLIES.c.start <= max(minutes),
                    TALLIES.c.final.is_(True),
                )
                .values(final=False)
            )


@dataclass(frozen=True)
class _Cached:
    tally: Tally
    marker: int
    final: bool


async def _cached(
    session: AsyncSession, objective_row_id: str, unit: int, first: int, stop: int, *, only_open: bool = False
) -> dict[int, _Cached]:
    """Cached spans [first, stop) of an objective (or only those not final), by span number (start // unit)."""
    where = [
        TALLIES.c.objective_row_id == objective_row_id,
        TALLIES.c.start >= first * unit,
        TALLIES.c.start < stop * unit,
    ]
    if only_open:
        where.append(TALLIES.c.final.is_(False))
    rows = await session.execute(
        select(TALLIES.c.start, TALLIES.c.good, TALLIES.c.total, TALLIES.c.marker, TALLIES.c.final).where(*where)
    )
    return {int(s) // unit: _Cached(Tally(float(g), float(t)), int(m), bool(f)) for s, g, t, m, f in rows.all()}


async def _final_sums(
    session: AsyncSession, objective_row_id: str, unit: int, ranges: dict[str, tuple[int, int]]
) -> dict[str, tuple[Tally, int]]:
    """Per label, the summed tally and the number of the final spans in its [lo, hi), summed by the database."""
    columns = []
    for lo, hi in ranges.values():
        inside = and_(TALLIES.c.start >= lo * unit, TALLIES.c.start < hi * unit)
        columns += [
            func.sum(case((inside, TALLIES.c.good))),
            func.sum(case((inside, TALLIES.c.total))),
            func.count(case((inside, 1))),
        ]
    row = (
        await session.execute(
            select(*columns).where(
                TALLIES.c.objective_row_id == objective_row_id,
                TALLIES.c.final.is_(True),
                TALLIES.c.start >= min(lo for lo, _ in ranges.values()) * unit,
                TALLIES.c.start < max(hi for _, hi in ranges.values()) * unit,
            )
        )
    ).one()
    return {
        label: (Tally(float(row[3 * n] or 0.0), float(row[3 * n + 1] or 0.0)), int(row[3 * n + 2] or 0))
        for n, label in enumerate(ranges)
    }


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TALLIES)


class SliceReader:
    """Timeslice tallies of one objective's ranges; `cached=False` reads minutes only, never the cache."""

    def __init__(
        self, session: AsyncSession, objective: Objective, now_end: datetime, excluded: set[int], cached: bool = True
    ) -> None:
        self.session, self.objective, self.excluded, self.cached = session, objective, excluded, cached
        self.now_minute = int(now_end.timestamp()) // MINUTE
        self.final_before = final_before(now_end)
        self.slice_minutes = slice_minutes(objective.timeslice_seconds)
        self.unit = span_minutes(self.slice_minutes)
        self.target = objective.timeslice_target if objective.timeslice_target is not None else objective.target
        self.indicator = counted_indicator(objective)
        self.observed = observed.minutes_of(observed.spans_of(objective.observed))

    async def _rows(self, first: int, stop: int) -> list[tuple[int, float, float]]:
        rows = await buckets.minute_rows(
            self.session,
            tenant=self.objective.tenant,
            service=self.objective.service_key,
            indicator=self.indicator,
            first=first,
            stop=stop,
            scope=self.objective.scope,
        )
        rows = observed.bad_minutes(rows, self.observed, first, stop)
        return [row for row in rows if row[0] not in self.excluded]

    def _tally(self, rows: list[tuple[int, float, float]]) -> Tally:
        return slice_tally(
            rows, slice_minutes=self.slice_minutes, slice_target=self.target, method=self.objective.budgeting_method
        )

    async def _minutes(self, first: int, stop: int) -> Tally:
        return self._tally(await self._rows(first, stop)) if first < stop else Tally(0.0, 0.0)

    async def _hold(self) -> None:
        """PostgreSQL: hold the objective's row until commit before reading the counts of spans that become final.

        A late batch reads its objectives `FOR SHARE` after writing its hours and before reopening final
        spans (`reopen_late_spans`). If it got there first, this waits for it to commit and the counts read
        next include it; otherwise it waits for this evaluation, and its reopen then sees the spans final.
        Holding the objective rather than the hours also covers hours with no row yet. SQLite has one writer:
        a batch committed after this transaction's first read makes its write fail instead.
        """
        if self.session.bind is None or self.session.bind.dialect.name != "postgresql":
            return
        objectives: Table = Objective.__table__  # type: ignore[attr-defined]
        await self.session.execute(
            select(objectives.c.id).where(objectives.c.id == self.objective.id).with_for_update(key_share=True)
        )

    async def _markers(self, spans: list[int]) -> dict[int, int]:
        per_span = self.unit // HOUR_MINUTES
        changes = await buckets.hour_changes(
            self.session,
            tenant=self.objective.tenant,
            service=self.objective.service_key,
            indicator=self.indicator,
            first=spans[0] * per_span,
            stop=(spans[-1] + 1) * per_span,
            scope=self.objective.scope,
        )
        return {s: sum(changes.get(s * per_span + h, 0) for h in range(per_span)) for s in spans}

    async def _computed(self, spans: list[int]) -> dict[int, Tally]:
        """Each span's tally from its minutes: one read per run of consecutive spans."""
        found: dict[int, Tally] = {}
        runs: list[list[int]] = []
        for span in spans:
            if runs and runs[-1][-1] == span - 1:
                runs[-1].append(span)
            else:
                runs.append([span])
        for run in runs:
            per_span: dict[int, list[tuple[int, float, float]]] = {span: [] for span in run}
            for row in await self._rows(run[0] * self.unit, (run[-1] + 1) * self.unit):
                per_span[row[0] // self.unit].append(row)
            found.update((span, self._tally(rows)) for span, rows in per_span.items())
        return found

    async def _spans(self, wanted: list[int], cached: dict[int, _Cached]) -> dict[int, Tally]:
        """The tally of each wanted span: cached and current, or computed again and stored."""
        unsure = [span for span in wanted if span not in cached or not cached[span].final]
        if any((span + 1) * self.unit <= self.final_before for span in unsure):
            await self._hold()
        markers = await self._markers(unsure) if unsure else {}
        stale = [span for span in unsure if span not in cached or cached[span].marker != markers[span]]
        computed = await self._computed(stale) if stale else {}
        settled = [
            span * self.unit for span in unsure if span not in computed and (span + 1) * self.unit <= self.final_before
        ]
        if computed:
            statement = _insert(self.session)
            statement = statement.on_conflict_do_update(
                index_elements=[TALLIES.c.objective_row_id, TALLIES.c.start],
                set_={name: statement.excluded[name] for name in ("good", "total", "marker", "final")},
            )
            await self.session.execute(
                statement,
                [
                    {
                        "objective_row_id": self.objective.id,
                        "start": span * self.unit,
                        "tenant": self.objective.tenant,
                        "good": tally.good,
                        "total": tally.total,
                        "marker": markers[span],
                        "final": (span + 1) * self.unit <= self.final_before,
                    }
                    for span, tally in computed.items()
                ],
            )
        if settled:  # checked once after no batch can change them: read without their hours from now on
            await self.session.execute(
                update(TALLIES)
                .where(TALLIES.c.objective_row_id == self.objective.id, TALLIES.c.start.in_(settled))
                .values(final=True)
            )
        return {span: computed[span] if span in computed else cached[span].tally for span in wanted}

    async def _pieces(self, pieces: set[tuple[int, int]]) -> dict[tuple[int, int], Tally]:
        """The tally of each minute range, overlapping or touching ranges read from the database once."""
        found: dict[tuple[int, int], Tally] = {}
        ordered = sorted(piece for piece in pieces if piece[0] < piece[1])
        unions: list[list[tuple[int, int]]] = []
        for piece in ordered:
            if unions and piece[0] <= max(stop for _, stop in unions[-1]):
                unions[-1].append(piece)
            else:
                unions.append([piece])
        for union in unions:
            rows = await self._rows(union[0][0], max(stop for _, stop in union))
            for first, stop in union:
                found[(first, stop)] = self._tally([row for row in rows if first <= row[0] < stop])
        return found

    async def tallies(self, parts: dict[str, Bounds]) -> dict[str, Tally]:
        """Good and counted slices per labelled range: whole spans cached, partial hours at the ends from minutes."""
        bounds = {
            label: (int(part.start.timestamp()) // MINUTE, int(part.end.timestamp()) // MINUTE)
            for label, part in parts.items()
        }
        if not self.cached:
            return {label: await self._minutes(first, stop) for label, (first, stop) in bounds.items()}
        whole = {
            label: (-(-first // self.unit), min(stop, self.now_minute) // self.unit)
            for label, (first, stop) in bounds.items()
        }
        edges: dict[str, list[tuple[int, int]]] = {}
        for label, (first, stop) in bounds.items():
            lo, hi = whole[label]
            edges[label] = [(first, stop)] if lo >= hi else [(first, lo * self.unit), (hi * self.unit, stop)]
        pieces = await self._pieces({piece for found in edges.values() for piece in found})
        found = {}
        for label, summed in (await self._whole(whole)).items():
            for piece in edges[label]:
                summed = summed + pieces.get(piece, Tally(0.0, 0.0))
            found[label] = summed
        return found

    async def _whole(self, whole: dict[str, tuple[int, int]]) -> dict[str, Tally]:
        """The tally of each label's whole spans [lo, hi).

        Final spans are summed by the database; those not final yet (the last lateness horizon) are
        read one by one and checked. When a span is missing (a first evaluation, a reopened range),
        every span is read and the missing ones computed.
        """
        ranges = {label: span for label, span in whole.items() if span[0] < span[1]}
        found = {label: Tally(0.0, 0.0) for label in whole}
        if not ranges:
            return found
        first, stop = min(lo for lo, _ in ranges.values()), max(hi for _, hi in ranges.values())
        if len(ranges) <= MAX_SUMMED_LABELS:
            sums = await _final_sums(self.session, self.objective.id, self.unit, ranges)
            open_spans = await _cached(self.session, self.objective.id, self.unit, first, stop, only_open=True)
            complete = all(
                count + sum(lo <= span < hi for span in open_spans) == hi - lo
                for (lo, hi), (_, count) in zip(ranges.values(), sums.values(), strict=True)
            )
            if complete:
                spans = await self._spans(sorted(open_spans), open_spans) if open_spans else {}
                for label, (lo, hi) in ranges.items():
                    summed = sums[label][0]
                    for span in sorted(open_spans):
                        if lo <= span < hi:
                            summed = summed + spans[span]
                    found[label] = summed
                return found
        wanted = sorted({span for lo, hi in ranges.values() for span in range(lo, hi)})
        spans = await self._spans(wanted, await _cached(self.session, self.objective.id, self.unit, first, stop))
        for label, (lo, hi) in ranges.items():
            summed = Tally(0.0, 0.0)
            for span in range(lo, hi):
                summed = summed + spans[span]
            found[label] = summed
        return found
