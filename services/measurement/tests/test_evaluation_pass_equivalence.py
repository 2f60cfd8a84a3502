"""Property tests: a pass's fast routes read, judge and store exactly what the plain routes do.

`details_json` (what a pass writes) decodes to `details_of` (what one evaluation stores), value for
value, type for type and key for key; a plan's tier factors and range labels, worked out once
per distinct policy and window, judge as working them out for each objective does; and the
objectives' JSON columns, as a pass reads them from SQLite, decode to what `json` gives.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from slm_measurement.domain.budget import Tally
from slm_measurement.judging import Measurement, details_json, details_of, judge, judge_reading, read
from slm_measurement.models import Objective
from slm_measurement.planning import Plan, plan
from slm_measurement.sqlite_json import SQLiteJSON

LENGTHS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "90m"]

tiers = st.lists(
    st.builds(
        lambda name, severity, share, windows: {
            "name": name,
            "severity": severity,
            "budget_share": share,
            "long_window": windows[1],
            "short_window": windows[0],
        },
        st.text(min_size=1, max_size=12),  # names beyond ASCII too
        st.sampled_from(["page", "ticket"]),
        st.floats(0.001, 1.0),
        st.sampled_from([("5m", "1h"), ("30m", "6h"), ("6h", "3d"), ("1h", "1d")]),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda tier: tier["name"],
)
windows = st.sampled_from(
    [
        {"window_kind": "rolling", "window_duration": "30d"},
        {"window_kind": "rolling", "window_duration": "7d"},
        {"window_kind": "calendar", "window_unit": "month", "window_timezone": "Europe/Lisbon"},
        {"window_kind": "calendar", "window_unit": "week", "window_timezone": "America/New_York"},
    ]
)
counts = st.floats(0, 1e12) | st.sampled_from([0.0, 1.0, float("inf")])


@st.composite
def objectives(draw: st.DrawFn) -> Objective:
    return Objective(
        id="row",
        tenant="acme",
        agreement_id="agreement",
        agreement_version=1,
        agreement_kind="SLA",
        objective_id="availability",
        service_key="api",
        indicator="availability",
        target=draw(st.floats(0.5, 0.99999) | st.just(1.0)),
        alert_policy=draw(st.none() | tiers),
        forecast_lookbacks=draw(st.none() | st.lists(st.sampled_from(LENGTHS), min_size=1, max_size=3, unique=True)),
        at_risk_rule=draw(st.sampled_from([None, "all_forecasts"])),
        maintenance_windows=[],
        **draw(windows),
    )


@st.composite
def judged(draw: st.DrawFn) -> tuple[Objective, Plan, dict[str, Tally], datetime]:
    objective = draw(objectives())
    now = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 90 * 86400)))
    planned = plan(objective, now=now)
    tallies = {}
    for label in planned.ranges:
        total = draw(counts)
        tallies[label] = Tally(draw(st.floats(0, 1) if total < float("inf") else st.just(0.5)) * total, total)
    return objective, planned, tallies, now


def _as_stored(details: Any) -> str:
    """A JSON value written canonically: equal texts mean equal values, types (1 and 1.0 apart) and key order."""
    return json.dumps(details)


@settings(max_examples=300, deadline=None)
@given(judged(), st.sampled_from(["occurrences", "timeslices", "ratio_timeslices"]), st.booleans())
def test_the_details_a_pass_writes_decode_to_what_one_evaluation_stores(
    case: tuple[Objective, Plan, dict[str, Tally], datetime], method: str, amended: bool
) -> None:
    objective, planned, tallies, now = case
    targets = {label: objective.target * 0.999 for label in planned.ranges} if amended else None
    found = judge(objective, planned, tallies, now=now, targets=targets)
    assert _as_stored(json.loads(details_json(found, method))) == _as_stored(details_of(found, method))


def _same(a: Measurement, b: Measurement) -> bool:
    return repr(a) == repr(b)  # NaN is not equal to itself; its repr is


@settings(max_examples=300, deadline=None)
@given(judged())
def test_a_plans_shared_factors_and_labels_judge_as_working_them_out_each_time(
    case: tuple[Objective, Plan, dict[str, Tally], datetime],
) -> None:
    objective, planned, tallies, now = case
    assert planned.factors is not None and planned.labels
    alone = dataclasses.replace(planned, factors=None, labels={})
    assert _same(judge(objective, planned, tallies, now=now), judge(objective, alone, tallies, now=now))
    targets = {label: 0.95 for label in planned.ranges}
    assert _same(
        judge(objective, planned, tallies, now=now, targets=targets),
        judge(objective, alone, tallies, now=now, targets=targets),
    )


@settings(max_examples=300, deadline=None)
@given(judged(), st.floats(0.5, 0.99999) | st.just(1.0), st.sampled_from([None, "all_forecasts"]), st.booleans())
def test_objectives_differing_only_in_target_judge_one_shared_reading_as_each_alone(
    case: tuple[Objective, Plan, dict[str, Tally], datetime], target: float, rule: str | None, amended: bool
) -> None:
    """A pass reads once for objectives with the same tallies and plan, then judges each target from it."""
    objective, planned, tallies, now = case
    other = objective.model_copy(update={"target": target, "at_risk_rule": rule})
    shared = read(objective, planned, tallies, now=now)
    targets = {label: target * 0.999 for label in planned.ranges} if amended else None
    for each in (objective, other):
        alone = judge(each, planned, tallies, now=now, targets=targets)
        assert _same(judge_reading(shared, each, planned, targets=targets), alone)
    assert _same(judge_reading(shared, other, planned), judge(other, plan(other, now=now), tallies, now=now))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2**80), 2**80) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_json_columns_a_pass_reads_from_sqlite_decode_as_json_does(value: Any) -> None:
    stored = json.dumps(value)  # as the column's own type writes it: NaN, Infinity and all
    read = SQLiteJSON().process_result_value(stored, None)  # type: ignore[arg-type]
    assert repr(read) == repr(json.loads(stored)) and _as_stored(read) == _as_stored(json.loads(stored))


def test_what_msgspec_refuses_is_decoded_by_json_and_sql_null_stays_none() -> None:
    for stored in ["NaN", "[1e400, -1e400]", '"\\ud800"', '{"a": 1, "a": 2}']:
        assert repr(SQLiteJSON().process_result_value(stored, None)) == repr(json.loads(stored))  # type: ignore[arg-type]
    assert SQLiteJSON().process_result_value(None, None) is None  # type: ignore[arg-type]
