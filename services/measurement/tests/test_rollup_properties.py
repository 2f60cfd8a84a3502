"""Property tests: answers read from hour and day rollups equal the answers from minute data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from slm_measurement.domain.histogram import count_at_or_below, merge, quantile
from slm_measurement.domain.windows import DAY, HOUR, MINUTE, Bounds, split_range
from slm_measurement.ingest import Point
from slm_measurement.rollup import Rollup, roll_up

ORIGIN = datetime(2028, 2, 27, 21, 0, tzinfo=UTC)  # spans a leap day and a month end
SPAN_MINUTES = 4 * 24 * 60
SIZES = {"minute": MINUTE, "hour": HOUR, "day": DAY}

count_points = st.lists(
    st.tuples(
        st.integers(0, SPAN_MINUTES - 1),
        st.integers(0, 59),
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.sampled_from(["", "eu", "us"]),
    ),
    max_size=60,
)
value_points = st.lists(st.tuples(st.integers(0, SPAN_MINUTES - 1), st.floats(0, 10_000, allow_nan=False)), max_size=60)


def rolled(counts: list[tuple[int, int, int, int, str]], values: list[tuple[int, float]]) -> Rollup:
    points = [
        Point("svc", "ind", ORIGIN + timedelta(minutes=m, seconds=s), good=min(a, b), total=max(a, b), scope=scope)
        for m, s, a, b, scope in counts
    ] + [Point("svc", "lat", ORIGIN + timedelta(minutes=m, seconds=30), value=v) for m, v in values]
    return roll_up(points, now=ORIGIN + timedelta(days=5), max_lateness=timedelta(days=30), max_future=timedelta(0))


def range_strategy() -> st.SearchStrategy[Bounds]:
    return st.tuples(st.integers(0, SPAN_MINUTES), st.integers(0, SPAN_MINUTES)).map(
        lambda ab: Bounds(ORIGIN + timedelta(minutes=min(ab)), ORIGIN + timedelta(minutes=max(ab)))
    )


@settings(max_examples=150, deadline=None)
@given(count_points, value_points, range_strategy())
def test_rollup_sums_over_any_range_equal_minute_sums(counts, values, bounds) -> None:  # type: ignore[no-untyped-def]
    rollup = rolled(counts, values)
    tables = {"minute": (rollup.counts, rollup.bins)}
    tables["hour"] = rollup.coarser(HOUR)
    tables["day"] = rollup.coarser(DAY)
    first, stop = int(bounds.start.timestamp()) // MINUTE, int(bounds.end.timestamp()) // MINUTE

    minute_good = sum(g for (_, i, _, m), (g, _) in rollup.counts.items() if i == "ind" and first <= m < stop)
    minute_total = sum(t for (_, i, _, m), (_, t) in rollup.counts.items() if i == "ind" and first <= m < stop)
    minute_bins = merge([{b: c} for (_, _, _, m, b), c in rollup.bins.items() if first <= m < stop])

    good = total = 0.0
    bins: list[dict[int, float]] = []
    for segment in split_range(bounds):
        count_table, bin_table = tables[segment.granularity]
        for (_, indicator, _, index), (g, t) in count_table.items():
            if indicator == "ind" and segment.first <= index < segment.stop:
                good, total = good + g, total + t
        bins.extend({b: c} for (_, _, _, index, b), c in bin_table.items() if segment.first <= index < segment.stop)
    rolled_bins = merge(bins)

    assert (good, total) == (minute_good, minute_total)
    assert rolled_bins == minute_bins
    for threshold in (1.0, 250.0, 5000.0):
        assert count_at_or_below(rolled_bins, threshold) == count_at_or_below(minute_bins, threshold)
    assert quantile(rolled_bins, 0.99) == quantile(minute_bins, 0.99)


@settings(max_examples=100, deadline=None)
@given(count_points)
def test_hour_and_day_rollups_hold_exactly_the_minute_totals(counts) -> None:  # type: ignore[no-untyped-def]
    rollup = rolled(counts, [])
    for size in (HOUR, DAY):
        coarse, _ = rollup.coarser(size)
        for (service, indicator, scope, index), (good, total) in coarse.items():
            per = size // MINUTE
            members = [
                v
                for (s, i, sc, m), v in rollup.counts.items()
                if (s, i, sc) == (service, indicator, scope) and m // per == index
            ]
            assert good == sum(v[0] for v in members) and total == sum(v[1] for v in members)
    assert sum(v[1] for v in rollup.coarser(DAY)[0].values()) == sum(max(a, b) for _, _, a, b, _ in counts)
