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

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets
from slm_measurement.domain import observed
from slm_measurement.domain.budget import Tally, slice_tally
from slm_measurement.domain.windows import DAY, HOUR, MINUTE, Bounds
from slm_measurement.models import Objective, SliceTally
from slm_measurement.rollup import Rollup
from slm_measurement.thresholds import counted_indicator

HOUR_MINUTES = HOUR // MINUTE
DAY_MINUTES = DAY // MINUTE
# An ingest batch checks its points' lateness when it starts and commits a little later.
SETTLE_GRACE = timedelta(hours=1)
TALLIES: Table = SliceTally.__table__  # type: ignore[attr-defined]


@dataclass
class SliceCache:
    """How long data may still arrive for a minute: the ingest's max lateness (`MEASUREMENT_MAX_LATENESS_SECONDS`)."""

    lateness: timedelta = timedelta(days=7)


SLICE_CACHE = SliceCache()


def final_before(now_end: datetime) -> int:
    """The first minute (since the epoch) a batch may still change: spans ending before it can become final."""
    return int((now_end - SLICE_CACHE.lateness - SETTLE_GRACE).timestamp()) // MINUTE


def span_minutes(slice_minutes: int) -> int:
    """Minutes per cached span: whole hours holding whole slices (slices divide a day, so spans do too)."""
    return math.lcm(slice_minutes, HOUR_MINUTES)


async def reopen_late_spans(session: AsyncSession, *, tenant: str, rollup: Rollup, now: datetime) -> None:
    """Mark for a check the cached spans of the batch's services' objectives over hours a span may hold as final.

    Only data more than the grace late does it (an import run with a longer lateness than the evaluators'),
    so points arriving on time issue no statement. The next evaluation compares the spans' change counts.
    """
    horizon = int((now - SETTLE_GRACE).timestamp()) // HOUR
    late: dict[str, list[int]] = {}
    for service, _, _, minute in rollup.counts:
        if minute // HOUR_MINUTES < horizon:
            late.setdefault(service, []).append(minute)
    objectives: Table = Objective.__table__  # type: ignore[attr-defined]
    for service, minutes in sorted(late.items()):
        ids = select(objectives.c.id).where(objectives.c.tenant == tenant, objectives.c.service_key == service)
        await session.execute(
            update(TALLIES)
            .where(
                TALLIES.c.objective_row_id.in_(ids),
                TALLIES.c.start > min(minutes) - DAY_MINUTES,  # a span holds at most a day
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


async def _cached(session: AsyncSession, objective_row_id: str, unit: int, first: int, stop: int) -> dict[int, _Cached]:
    """Cached spans [first, stop) of an objective, by span number (start // unit)."""
    rows = await session.execute(
        select(TALLIES.c.start, TALLIES.c.good, TALLIES.c.total, TALLIES.c.marker, TALLIES.c.final).where(
            TALLIES.c.objective_row_id == objective_row_id,
            TALLIES.c.start >= first * unit,
            TALLIES.c.start < stop * unit,
        )
    )
    return {int(s) // unit: _Cached(Tally(float(g), float(t)), int(m), bool(f)) for s, g, t, m, f in rows.all()}


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
        self.slice_minutes = max((objective.timeslice_seconds or MINUTE) // MINUTE, 1)
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

    async def _spans(self, wanted: list[int]) -> dict[int, Tally]:
        """The tally of each wanted span: cached and current, or computed again and stored."""
        cached = await _cached(self.session, self.objective.id, self.unit, wanted[0], wanted[-1] + 1)
        unsure = [span for span in wanted if span not in cached or not cached[span].final]
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
        wanted = sorted({span for lo, hi in whole.values() for span in range(lo, hi)})
        spans = await self._spans(wanted) if wanted else {}
        found = {}
        for label, (first, stop) in bounds.items():
            lo, hi = whole[label]
            if lo >= hi:
                found[label] = await self._minutes(first, stop)
                continue
            total = await self._minutes(first, lo * self.unit) + await self._minutes(hi * self.unit, stop)
            for span in range(lo, hi):
                total = total + spans[span]
            found[label] = total
        return found
