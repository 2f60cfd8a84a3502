"""Bucket SQL: bulk upserts of a rolled-up batch, and sums over ranges read from the rollups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.domain.budget import Tally
from slm_measurement.domain.windows import DAY, HOUR, MINUTE, Bounds, Segment, split_range
from slm_measurement.models import (
    DayBucket,
    DayValueBin,
    HourBucket,
    HourValueBin,
    MinuteBucket,
    MinuteValueBin,
)
from slm_measurement.rollup import Rollup

UPSERT_CHUNK = 5000
MAX_UNION_PARTS = 200
MAX_SCAN_SEGMENTS = 200
GRANULARITY_SECONDS = {"minute": MINUTE, "hour": HOUR, "day": DAY}
COUNT_TABLES: dict[str, Table] = {
    "minute": MinuteBucket.__table__,  # type: ignore[attr-defined]
    "hour": HourBucket.__table__,  # type: ignore[attr-defined]
    "day": DayBucket.__table__,  # type: ignore[attr-defined]
}
BIN_TABLES: dict[str, Table] = {
    "minute": MinuteValueBin.__table__,  # type: ignore[attr-defined]
    "hour": HourValueBin.__table__,  # type: ignore[attr-defined]
    "day": DayValueBin.__table__,  # type: ignore[attr-defined]
}
SERIES_KEY = ["tenant", "service", "indicator", "scope"]


_UPSERTS: dict[tuple[str, str, str, str, str], tuple[str, tuple[str, ...]]] = {}


def _upsert_sql(dialect: Dialect, kind: str, granularity: str) -> tuple[str, tuple[str, ...]]:
    """One bulk upsert (`counts` or `bins` of a granularity): its SQL and parameter order, compiled once per driver.

    Counts add `good` and `total` (and, per hour, `changes`) to the row found; bins add `samples`.
    """
    key = (dialect.name, dialect.driver, dialect.paramstyle, kind, granularity)
    if (found := _UPSERTS.get(key)) is None:
        found = _UPSERTS[key] = _compile_upsert(dialect, kind, granularity)
    return found


def _compile_upsert(dialect: Dialect, kind: str, granularity: str) -> tuple[str, tuple[str, ...]]:
    table = (COUNT_TABLES if kind == "counts" else BIN_TABLES)[granularity]
    statement = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table)
    if kind == "counts":
        added = {name: table.c[name] + statement.excluded[name] for name in _added(kind, granularity)}
        statement = statement.on_conflict_do_update(index_elements=[*SERIES_KEY, granularity], set_=added)
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[*SERIES_KEY, granularity, "bin"],
            set_={"samples": table.c.samples + statement.excluded.samples},
        )
    compiled = statement.compile(dialect=dialect)
    return compiled.string, tuple(compiled.positiontup or ())


def _added(kind: str, granularity: str) -> list[str]:
    """The columns an upsert adds to: what a row of `kind` carries after its key."""
    if kind == "bins":
        return ["samples"]
    return ["good", "total", "changes"] if granularity == "hour" else ["good", "total"]


async def _upsert(
    session: AsyncSession, kind: str, granularity: str, rows: list[tuple[Any, ...]], columns: list[str]
) -> None:
    """executemany of a cached upsert with positional rows (no per-row parameter objects), in chunks."""
    connection = await session.connection()
    sql, positions = _upsert_sql(connection.dialect, kind, granularity)
    order = [columns.index(name) for name in positions]
    if order != list(range(len(columns))):
        rows = [tuple(row[i] for i in order) for row in rows]
    for offset in range(0, len(rows), UPSERT_CHUNK):
        await connection.exec_driver_sql(sql, rows[offset : offset + UPSERT_CHUNK])


async def upsert_rollup(session: AsyncSession, *, tenant: str, rollup: Rollup) -> None:
    """Add a batch's sums to the minute, hour and day tables: one bulk upsert per table.

    Each hour bucket written also counts the batch in `changes`, in this same transaction: the
    marker a cached slice tally is checked against (`slices`).
    """
    levels = [("minute", rollup.counts, rollup.bins)]
    levels += [(name, *rollup.coarser(GRANULARITY_SECONDS[name])) for name in ("hour", "day")]
    for granularity, counts, bins in levels:
        if counts:
            columns = [*SERIES_KEY, granularity, *_added("counts", granularity)]
            rows: list[tuple[Any, ...]] = [
                (tenant, s, i, sc, n, g, t) for (s, i, sc, n), (g, t) in sorted(counts.items())
            ]
            if granularity == "hour":
                rows = [(*row, 1) for row in rows]
            await _upsert(session, "counts", granularity, rows, columns)
        if bins:
            rows = [(tenant, s, i, sc, n, b, c) for (s, i, sc, n, b), c in sorted(bins.items())]
            await _upsert(session, "bins", granularity, rows, [*SERIES_KEY, granularity, "bin", "samples"])


def _series_range(
    unit: str, tenant: str, service: str, indicator: str, first: int, stop: int, scope: str | None
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters for units [first, stop) of a series, all scopes (or one)."""
    params: dict[str, Any] = {"tenant": tenant, "service": service, "indicator": indicator, "a": first, "b": stop}
    one_scope = ""
    if scope is not None:
        params["scope"], one_scope = scope, "AND scope = :scope "
    where = (
        "WHERE tenant = :tenant AND service = :service AND indicator = :indicator "
        f"{one_scope}AND {unit} >= :a AND {unit} < :b"
    )
    return where, params


async def hour_changes(
    session: AsyncSession,
    *,
    tenant: str,
    service: str,
    indicator: str,
    first: int,
    stop: int,
    scope: str | None = None,
) -> dict[int, int]:
    """Batches written per hour [first, stop) of a series, all scopes summed (or one scope); absent hours had none."""
    where, params = _series_range("hour", tenant, service, indicator, first, stop, scope)
    rows = await session.execute(
        text(f"SELECT hour, SUM(changes) FROM {COUNT_TABLES['hour'].name} {where} GROUP BY hour"), params
    )
    return {int(h): int(c) for h, c in rows.all()}


GOOD_TOTAL = "COALESCE(SUM(good), 0), COALESCE(SUM(total), 0)"


@dataclass(frozen=True)
class _Scan:
    """One range scan of a table: the distinct segments it sums, each as its own pair of columns."""

    granularity: str
    first: int
    stop: int
    segments: tuple[tuple[int, int], ...]


def _scans(segments: Sequence[Segment]) -> list[_Scan]:
    """Overlapping or touching segments of a granularity merged into one scan, so each row is read once."""
    scans: list[_Scan] = []
    for granularity in ("minute", "hour", "day"):
        spans = sorted({(s.first, s.stop) for s in segments if s.granularity == granularity})
        group: list[tuple[int, int]] = []
        for span in spans:
            if group and (span[0] > max(b for _, b in group) or len(group) >= MAX_SCAN_SEGMENTS):
                scans.append(_Scan(granularity, group[0][0], max(b for _, b in group), tuple(group)))
                group = []
            group.append(span)
        if group:
            scans.append(_Scan(granularity, group[0][0], max(b for _, b in group), tuple(group)))
    return scans


@lru_cache(maxsize=256)
def _scans_of(shape: tuple[tuple[str, int], ...], width: int, scoped: bool = False) -> TextClause:
    """One SELECT per scan summing its segments with CASE (padded to `width` pairs), of one scope if `scoped`."""
    one_scope = "AND scope = :scope " if scoped else ""
    parts = []
    for n, (granularity, count) in enumerate(shape):
        sums = [
            f"SUM(CASE WHEN {granularity} >= :a{n}_{k} AND {granularity} < :b{n}_{k} THEN good END), "
            f"SUM(CASE WHEN {granularity} >= :a{n}_{k} AND {granularity} < :b{n}_{k} THEN total END)"
            for k in range(count)
        ] + ["CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION)"] * (width - count)
        parts.append(
            f"SELECT {n} AS scan, service, indicator, {', '.join(sums)} FROM {COUNT_TABLES[granularity].name} "
            f"WHERE tenant = :tenant AND service IN :services AND indicator IN :indicators {one_scope}"
            f"AND {granularity} >= :a{n} AND {granularity} < :b{n} GROUP BY service, indicator"
        )
    return text(" UNION ALL ".join(parts)).bindparams(
        bindparam("services", expanding=True), bindparam("indicators", expanding=True)
    )


async def range_tallies_many(
    session: AsyncSession,
    *,
    tenant: str,
    series: Sequence[tuple[str, str]],
    ranges: Mapping[str, Sequence[tuple[Bounds, int]]],
    scope: str | None = None,
) -> dict[tuple[str, str], dict[str, Tally]]:
    """Good and total per (service, indicator) and label, each label a signed sum of ranges, in one round trip.

    `scope` None sums every scope of a series; a scope reads only that one (an SLA measuring its customer).

    Each range is read from whole days, whole hours and minutes at its edges, so the cost does not
    grow with its length; the segments of all ranges that overlap are summed in one scan, so a row
    is read once however many lookbacks cover it. A threshold's counted series (see `thresholds`)
    reads like any other.
    """
    segments: list[tuple[str, int, Segment]] = [
        (label, sign, segment)
        for label, signed in ranges.items()
        for bounds, sign in signed
        for segment in split_range(bounds)
    ]
    tallies = {key: {label: Tally() for label in ranges} for key in series}
    if not segments or not series:
        return tallies
    common: dict[str, Any] = {
        "tenant": tenant,
        "services": sorted({service for service, _ in series}),
        "indicators": sorted({indicator for _, indicator in series}),
    }
    if scope is not None:
        common["scope"] = scope
    sums: dict[tuple[str, str], dict[tuple[str, int, int], tuple[float, float]]] = {key: {} for key in series}
    scans = _scans([segment for _, _, segment in segments])
    # SQLite refuses a compound SELECT of more than 500 terms (many maintenance windows make many scans).
    for offset in range(0, len(scans), MAX_UNION_PARTS):
        chunk = scans[offset : offset + MAX_UNION_PARTS]
        params = dict(common)
        for n, scan in enumerate(chunk):
            params[f"a{n}"], params[f"b{n}"] = scan.first, scan.stop
            for k, (first, stop) in enumerate(scan.segments):
                params[f"a{n}_{k}"], params[f"b{n}_{k}"] = first, stop
        shape = tuple((scan.granularity, len(scan.segments)) for scan in chunk)
        rows = await session.execute(_scans_of(shape, max(count for _, count in shape), scope is not None), params)
        for row in rows.all():
            found = sums.get((row[1], row[2]))
            if found is None:
                continue
            scan = chunk[row[0]]
            for k, (first, stop) in enumerate(scan.segments):
                if row[3 + 2 * k] is not None:
                    found[(scan.granularity, first, stop)] = (float(row[3 + 2 * k]), float(row[4 + 2 * k]))
    # Added in the order of the segments, as a sum per segment would be: the same floating-point result.
    for key, found in sums.items():
        if not found:
            continue
        per_label = tallies[key]
        for label, sign, segment in segments:
            if (pair := found.get((segment.granularity, segment.first, segment.stop))) is not None:
                per_label[label] = per_label[label] + Tally(sign * pair[0], sign * pair[1])
    return tallies


async def range_tallies(
    session: AsyncSession,
    *,
    tenant: str,
    service: str,
    indicator: str,
    ranges: Mapping[str, Sequence[tuple[Bounds, int]]],
    scope: str | None = None,
) -> dict[str, Tally]:
    """Good and total per label of one series (every scope, or one), each label a signed sum of ranges."""
    found = await range_tallies_many(session, tenant=tenant, series=[(service, indicator)], ranges=ranges, scope=scope)
    return found[(service, indicator)]


async def minute_rows(
    session: AsyncSession,
    *,
    tenant: str,
    service: str,
    indicator: str,
    first: int,
    stop: int,
    scope: str | None = None,
) -> list[tuple[int, float, float]]:
    """(minute, good, total) for minutes [first, stop) of a series, all scopes summed (or one scope)."""
    where, params = _series_range("minute", tenant, service, indicator, first, stop, scope)
    rows = await session.execute(
        text(f"SELECT minute, {GOOD_TOTAL} FROM {COUNT_TABLES['minute'].name} {where} GROUP BY minute"), params
    )
    return [(int(m), float(g), float(t)) for m, g, t in rows.all()]


@dataclass(frozen=True)
class SeriesQuery:
    """One series (optionally one scope) between two bucket indices of a granularity."""

    tenant: str
    service: str
    indicator: str
    scope: str | None
    granularity: str
    first: int
    stop: int


def _series_filter(table: Table, query: SeriesQuery) -> list[Any]:
    index = table.c[query.granularity]
    where = [
        table.c.tenant == query.tenant,
        table.c.service == query.service,
        table.c.indicator == query.indicator,
        index >= query.first,
        index < query.stop,
    ]
    if query.scope is not None:
        where.append(table.c.scope == query.scope)
    return where


async def series_counts(session: AsyncSession, query: SeriesQuery) -> list[tuple[int, float, float]]:
    """(bucket, good, total) of an event-count series, for charts."""
    table = COUNT_TABLES[query.granularity]
    index = table.c[query.granularity]
    rows = await session.execute(
        select(index, func.sum(table.c.good), func.sum(table.c.total))
        .where(*_series_filter(table, query))
        .group_by(index)
        .order_by(index)
    )
    return [(int(n), float(g), float(t)) for n, g, t in rows.all()]


async def series_bins(session: AsyncSession, query: SeriesQuery) -> list[tuple[int, int, float]]:
    """(bucket, bin, samples) of a value series, for charts."""
    table = BIN_TABLES[query.granularity]
    index = table.c[query.granularity]
    rows = await session.execute(
        select(index, table.c.bin, func.sum(table.c.samples))
        .where(*_series_filter(table, query))
        .group_by(index, table.c.bin)
        .order_by(index, table.c.bin)
    )
    return [(int(n), int(b), float(c)) for n, b, c in rows.all()]
