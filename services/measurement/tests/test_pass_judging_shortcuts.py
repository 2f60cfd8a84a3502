"""Property tests: the pass's judging and writing shortcuts give what the plain routes give.

A chunk's readings are found again by (what was read, which plan object, window kind) before
`read_alike`'s key is built; each objective judged from that shared reading must be what judging
it alone gives, across objectives reading the same tallies under other plans (another window,
another policy, maintenance of their own) or the same plan, with observed spans or not.
A column's values bound in bulk (`bulk_update._bound`, runs of one object bound once) are what
binding each gives, equal values that convert apart (instants in other zones or either side of a
clock change, 1, 1.0 and True) included; the clock change also through a real bulk write. The
details a pass writes are the text msgspec gives for what one evaluation stores, and the text
`json` gives when a number is not finite.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.bulk_update import WRITTEN, EncodedJSON, _bound, update_outcomes
from slm_measurement.domain.budget import Tally
from slm_measurement.evaluation_pass import _judge_together, _Reads
from slm_measurement.judging import details_json, details_of, judge
from slm_measurement.models import Objective
from slm_measurement.planning import Plan, plan
from slm_shared.db import Database

NOW = datetime(2026, 3, 11, 14, 37, 23, 250000, tzinfo=UTC)
WINDOWS = [
    {"window_kind": "rolling", "window_duration": "30d"},
    {"window_kind": "rolling", "window_duration": "7d"},
    {"window_kind": "calendar", "window_duration": None, "window_unit": "month", "window_timezone": "Europe/Lisbon"},
]
OBSERVED = [{"start": "2026-03-11T10:00:00+00:00", "end": "2026-03-11T10:30:00+00:00"}]
MAINTENANCE = [{"start": "2026-03-11T09:00:00+00:00", "end": "2026-03-11T09:20:00+00:00"}]  # within 6h of NOW


def _policy(share: float) -> list[dict[str, Any]]:
    return [
        {"name": "page-1h", "severity": "page", "budget_share": share, "long_window": "1h", "short_window": "5m"},
        {"name": "ticket-3d", "severity": "ticket", "budget_share": 0.1, "long_window": "3d", "short_window": "6h"},
    ]


# The default policy, and two with the same lookbacks (so the same ranges, tallies and reading) but other factors.
POLICIES: list[list[dict[str, Any]] | None] = [None, _policy(0.02), _policy(0.5)]


def _objective(
    n: int,
    target: float,
    window: dict[str, Any],
    rule: str | None,
    observed: bool,
    policy: list[dict[str, Any]] | None = None,
    maintenance: bool = False,
) -> Objective:
    return Objective(
        id=f"row-{n}",
        tenant="acme",
        agreement_id=f"agreement-{n}",
        agreement_version=1,
        agreement_kind="SLA",
        objective_id="availability",
        service_key="api",
        indicator="availability",
        target=target,
        at_risk_rule=rule,
        alert_policy=policy,
        maintenance_windows=MAINTENANCE if maintenance else [],
        observed=OBSERVED if observed else [],
        **window,
    )


def _tallies(planned: Plan, seed: int) -> dict[str, Tally]:
    return {label: Tally(990.0 + (seed * 7 + n) % 11, 1000.0) for n, label in enumerate(planned.ranges)}


members = st.lists(
    st.tuples(
        st.integers(0, len(WINDOWS) - 1),  # window
        st.integers(0, len(POLICIES) - 1),  # policy
        st.integers(0, 2),  # which series (source): the same for every window and policy
        st.sampled_from([0.9, 0.99, 0.992, 0.995, 0.999, 1.0]),
        st.sampled_from([None, "all_forecasts"]),
        st.booleans(),  # observed spans
        st.booleans(),  # maintenance of its own, so a plan object of its own (else the shared plan of its terms)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(members)
def test_objectives_judged_from_readings_found_by_plan_are_judged_as_each_alone(
    drawn: list[tuple[int, int, int, float, str | None, bool, bool]],
) -> None:
    shared_plans = {
        (w, p): plan(_objective(-1, 0.99, window, None, False, policy), now=NOW)
        for w, window in enumerate(WINDOWS)
        for p, policy in enumerate(POLICIES)
    }
    objectives, plans, reads, alone = [], {}, _Reads(), {}
    for n, (window, policy, source, target, rule, observed, own) in enumerate(drawn):
        objective = _objective(n, target, WINDOWS[window], rule, observed, POLICIES[policy], maintenance=own)
        planned = plan(objective, now=NOW)
        if own:
            assert planned is not shared_plans[window, policy] and planned.excluded
        else:
            assert planned is shared_plans[window, policy]
        tallies = _tallies(planned, source)
        objectives.append(objective)
        plans[objective.id] = (objective, planned)
        reads.tallies[objective.id] = tallies
        reads.sources[objective.id] = (0, "api", f"series-{source}")
        alone[objective.id] = judge(objective, planned, tallies, now=NOW)
    session = cast(AsyncSession, None)  # not used: nothing fails unguarded
    judged = asyncio.run(_judge_together(session, objectives, plans, reads, now=NOW, guarded=False))
    assert [o.id for o, _ in judged] == [o.id for o in objectives]
    for objective, found in judged:
        assert repr(found) == repr(alone[objective.id])


NEW_YORK = ZoneInfo("America/New_York")
# 01:30 twice on 2025-11-02 (05:30 and 06:30 UTC): equal within the zone whatever the fold, an hour apart.
REPEATED = [datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK), datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=NEW_YORK)]
INSTANTS = [NOW, NOW + timedelta(minutes=1), NOW.astimezone(timezone(timedelta(hours=1))), *REPEATED]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 11), max_size=30))
def test_a_columns_values_bound_in_bulk_are_what_binding_each_gives(picks: list[int]) -> None:
    assert INSTANTS[0] == INSTANTS[2] and REPEATED[0] == REPEATED[1]  # equal values that convert apart
    names, other = ["page-1h"], ["page-1h"]  # equal lists, two objects
    shared = object()
    pool: list[Any] = [*INSTANTS, names, other, [], shared, 1, 1.0, True]
    values = [pool[p] for p in picks]

    def process(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat(), value.astimezone(UTC)  # the wall time with its offset, and the UTC instant
        return json.dumps(value) if isinstance(value, list) else repr(value)

    assert _bound(process, values) == [process(value) for value in values]
    encoded = EncodedJSON('{"a":1}')
    assert _bound(process, [encoded, INSTANTS[0], encoded]) == [encoded, process(INSTANTS[0]), encoded]


async def test_the_two_wall_times_a_clock_change_repeats_are_stored_an_hour_apart_by_a_bulk_write(
    db: Database,
) -> None:
    ids = ["row-0", "row-1", "row-2"]
    async with db.session() as session:
        session.add_all(_objective(n, 0.99, WINDOWS[0], None, False) for n in range(len(ids)))
    starts = [REPEATED[0], REPEATED[1], REPEATED[0]]
    rows = [
        {name: None for name in WRITTEN}
        | {"row_id": i, "good": 1.0, "total": 1.0, "status": "met", "details": {}, "firing_alerts": []}
        | {"needs_evaluation": False, "window_start": start, "window_end": NOW, "evaluated_at": NOW}
        for i, start in zip(ids, starts, strict=True)
    ]
    async with db.session() as session:
        await update_outcomes(session, rows)
    async with db.session(read_only=True) as session:
        stored = {i: start for i, start in await session.execute(select(Objective.id, Objective.window_start))}
    assert [stored[i] for i in ids] == [datetime(2025, 11, 2, h, 30, tzinfo=UTC) for h in (5, 6, 5)]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, len(WINDOWS) - 1),
    st.sampled_from([0.9, 0.99, 0.999, 1.0]),
    st.one_of(st.floats(0, 1e9), st.just(math.inf)),  # infinite totals read as NaN shares
    st.floats(0, 1),
    st.sampled_from(["occurrences", "timeslices"]),
    st.sampled_from([None, math.inf, -math.inf, math.nan]),  # a burn rate made non-finite
)
@example(0, 0.99, 1000.0, 0.5, "occurrences", math.inf)
@example(0, 0.99, math.inf, 0.5, "timeslices", None)
def test_the_details_a_pass_writes_are_the_text_msgspec_gives_for_what_one_evaluation_stores(
    window: int, target: float, total: float, share: float, method: str, rate: float | None
) -> None:
    objective = _objective(0, target, WINDOWS[window], None, False)
    planned = plan(objective, now=NOW)
    tallies = {label: Tally(share * total * (1 + n % 2) / 2, total) for n, label in enumerate(planned.ranges)}
    found = judge(objective, planned, tallies, now=NOW)
    if rate is not None:
        found = replace(found, burn_rates={**found.burn_rates, timedelta(hours=1): rate})
    text = details_json(found, method)
    stored = details_of(found, method)
    assert repr(json.loads(text)) == repr(stored)  # NaN and types included
    numbers = [r["burn_rate"] for r in stored["burn_rates"]] + [f["expected_attainment"] for f in stored["forecasts"]]
    numbers += [a["factor"] for a in stored["alerts"]]
    if all(n is None or math.isfinite(n) for n in numbers):
        assert text == msgspec.json.encode(stored).decode()
    else:  # what the column's serializer writes (msgspec would write null)
        assert text == json.dumps(stored)
