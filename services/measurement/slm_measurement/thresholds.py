"""Exact threshold counting: each value is judged at ingest against every threshold in force for its series.

Values are also kept as 2% log bins, for percentiles only. A threshold objective reads the good/total
counts of its own counted series, `<indicator>#<op>#<value>`, kept in the same minute/hour/day tables
as event counts: an event over the agreed threshold never counts as good. Counting starts when an
objective with that threshold is known to measurement; values ingested earlier are not counted for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.models import Objective
from slm_shared.contracts.targets import THRESHOLD_KIND, Op

SEPARATOR = "#"
MAX_KEY = 128
Threshold = tuple[Op, float]
Thresholds = Mapping[tuple[str, str], list[Threshold]]


def counted_series(indicator: str, op: str, value: float) -> str:
    """The indicator key under which a threshold's good/total counts are kept."""
    key = f"{indicator}{SEPARATOR}{op}{SEPARATOR}{float(value)!r}"
    if len(key) <= MAX_KEY:
        return key
    return f"{indicator[:60]}{SEPARATOR}{hashlib.sha256(key.encode()).hexdigest()}"


def counted_indicator(objective: Any) -> str:
    """The series an objective's good/total are read from: its indicator, or its threshold's counted series."""
    if objective.indicator_kind == THRESHOLD_KIND and objective.op is not None and objective.value is not None:
        return counted_series(objective.indicator, objective.op, objective.value)
    return str(objective.indicator)


def of_objectives(
    rows: Iterable[tuple[str, str, str | None, bool, str | None, float | None]], wanted: set[tuple[str, str]]
) -> Thresholds:
    """Thresholds in force on the `wanted` series, from (service, indicator, kind, ended, op, value) rows."""
    found: dict[tuple[str, str], list[Threshold]] = {}
    for service, indicator, kind, ended, op, value in rows:
        if kind != THRESHOLD_KIND or ended or op is None or value is None or (service, indicator) not in wanted:
            continue
        if (op, float(value)) not in found.get((service, indicator), []):
            found.setdefault((service, indicator), []).append((op, float(value)))  # type: ignore[arg-type]
    return found


async def in_force(session: AsyncSession, *, tenant: str, series: Iterable[tuple[str, str]]) -> Thresholds:
    """Thresholds of the objectives not ended on each (service, indicator) value series."""
    wanted = set(series)
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(Objective.service_key), col(Objective.indicator), col(Objective.op), col(Objective.value))
        .where(
            col(Objective.tenant) == tenant,
            col(Objective.indicator_kind) == THRESHOLD_KIND,
            col(Objective.ended).is_(False),
            col(Objective.op).is_not(None),
            col(Objective.value).is_not(None),
        )
        .distinct()
    )
    return of_objectives(((s, i, THRESHOLD_KIND, False, op, v) for s, i, op, v in rows.all()), wanted)
