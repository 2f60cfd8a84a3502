"""Property tests: the pass's judging and writing shortcuts give what the plain routes give.

A chunk's readings are found again by (what was read, which plan object, window kind) before
`read_alike`'s key is built; each objective judged from that shared reading must be what judging
it alone gives, across objectives sharing plans and tallies or not, with observed spans or not.
A column's values bound in bulk (`bulk_update._bound`, runs of one object bound once) are what
binding each gives. The details a pass writes are the text msgspec gives for what one evaluation
stores (the JSON route taken only for non-finite numbers and extra details).
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.bulk_update import EncodedJSON, _bound
from slm_measurement.domain.budget import Tally
from slm_measurement.evaluation_pass import _judge_together, _Reads
from slm_measurement.judging import details_json, details_of, judge
from slm_measurement.models import Objective
from slm_measurement.planning import Plan, plan

NOW = datetime(2026, 3, 11, 14, 37, 23, 250000, tzinfo=UTC)
WINDOWS = [
    {"window_kind": "rolling", "window_duration": "30d"},
    {"window_kind": "rolling", "window_duration": "7d"},
    {"window_kind": "calendar", "window_duration": None, "window_unit": "month", "window_timezone": "Europe/Lisbon"},
]
OBSERVED = [{"start": "2026-03-11T10:00:00+00:00", "end": "2026-03-11T10:30:00+00:00"}]


def _objective(n: int, target: float, window: dict[str, Any], rule: str | None, observed: bool) -> Objective:
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
        maintenance_windows=[],
        observed=OBSERVED if observed else [],
        **window,
    )


def _tallies(planned: Plan, seed: int) -> dict[str, Tally]:
    return {label: Tally(990.0 + (seed * 7 + n) % 11, 1000.0) for n, label in enumerate(planned.ranges)}


members = st.lists(
    st.tuples(
        st.integers(0, len(WINDOWS) - 1),  # window (so plan)
        st.integers(0, 2),  # which tallies (source)
        st.sampled_from([0.9, 0.99, 0.992, 0.995, 0.999, 1.0]),
        st.sampled_from([None, "all_forecasts"]),
        st.booleans(),  # observed spans
        st.booleans(),  # its own plan object (equal to the shared one) rather than the shared one
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(members)
def test_objectives_judged_from_readings_found_by_plan_are_judged_as_each_alone(
    drawn: list[tuple[int, int, float, str | None, bool, bool]],
) -> None:
    shared_plans = {n: plan(_objective(-1, 0.99, window, None, False), now=NOW) for n, window in enumerate(WINDOWS)}
    objectives, plans, reads, alone = [], {}, _Reads(), {}
    for n, (window, source, target, rule, observed, own) in enumerate(drawn):
        objective = _objective(n, target, WINDOWS[window], rule, observed)
        planned = plan(objective, now=NOW) if own else shared_plans[window]
        tallies = _tallies(planned, source)
        objectives.append(objective)
        plans[objective.id] = (objective, planned)
        reads.tallies[objective.id] = tallies
        reads.sources[objective.id] = (0, "api", f"series-{source}-{window}")
        alone[objective.id] = judge(objective, planned, tallies, now=NOW)
    session = cast(AsyncSession, None)  # not used: nothing fails unguarded
    judged = asyncio.run(_judge_together(session, objectives, plans, reads, now=NOW, guarded=False))
    assert [o.id for o, _ in judged] == [o.id for o in objectives]
    for objective, found in judged:
        assert repr(found) == repr(alone[objective.id])


INSTANTS = [NOW, NOW + timedelta(minutes=1), NOW.astimezone(UTC)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=30))
def test_a_columns_values_bound_in_bulk_are_what_binding_each_gives(picks: list[int]) -> None:
    names, other = ["page-1h"], ["page-1h"]  # equal lists, two objects
    shared = object()
    pool: list[Any] = [INSTANTS[0], INSTANTS[1], INSTANTS[2], names, other, [], shared]
    values = [pool[p] for p in picks]
    calls: list[Any] = []

    def process(value: Any) -> Any:
        calls.append(value)
        return json.dumps(value) if isinstance(value, list) else repr(value)

    assert _bound(process, values) == [process(value) for value in values]
    encoded = EncodedJSON('{"a":1}')
    assert _bound(process, [encoded, INSTANTS[0], encoded]) == [encoded, repr(INSTANTS[0]), encoded]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, len(WINDOWS) - 1),
    st.sampled_from([0.9, 0.99, 0.999, 1.0]),
    st.floats(0, 1e9),
    st.floats(0, 1),
    st.sampled_from(["occurrences", "timeslices"]),
)
def test_the_details_a_pass_writes_are_the_text_msgspec_gives_for_what_one_evaluation_stores(
    window: int, target: float, total: float, share: float, method: str
) -> None:
    objective = _objective(0, target, WINDOWS[window], None, False)
    planned = plan(objective, now=NOW)
    tallies = {label: Tally(share * total * (1 + n % 2) / 2, total) for n, label in enumerate(planned.ranges)}
    found = judge(objective, planned, tallies, now=NOW)
    text = details_json(found, method)
    assert json.loads(text) == details_of(found, method)
    stored = details_of(found, method)
    numbers = [r["burn_rate"] for r in stored["burn_rates"]] + [f["expected_attainment"] for f in stored["forecasts"]]
    if all(n is None or math.isfinite(n) for n in numbers):
        assert text == msgspec.json.encode(stored).decode()
