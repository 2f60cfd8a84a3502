"""A row's body is built once while the row is unchanged, and again for any change of any value in it."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, timedelta
from typing import Any

from slm_shared.web.row_bodies import RowBodies

Row = namedtuple("Row", "id attainment details at")
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def built(bodies: RowBodies, rows: list[Any]) -> list[bytes]:
    """The bodies of `rows` read in turn, and (as its last item's `calls`) how many were built."""
    calls: list[Any] = []

    def body_of(row: Any) -> bytes:
        def build() -> bytes:
            calls.append(row)
            return repr(row).encode()

        return bodies.body(row, build)

    answered = [body_of(row) for row in rows]
    return [*answered, str(len(calls)).encode()]


def test_an_equal_row_is_answered_as_built_and_any_changed_value_is_built_again() -> None:
    bodies = RowBodies()
    row = Row("o-1", 0.999, {"burn_rates": [{"window": "1h", "rate": 1.0}], "unit": "events"}, AT)
    same = Row("o-1", 0.999, {"burn_rates": [{"window": "1h", "rate": 1.0}], "unit": "events"}, AT)
    *answered, count = built(bodies, [row, same, row])
    assert answered == [repr(row).encode()] * 3 and count == b"1"

    changed = [
        row._replace(attainment=0.998),
        row._replace(details={"burn_rates": [{"window": "1h", "rate": 1}], "unit": "events"}),  # 1 is not 1.0
        row._replace(details={"burn_rates": [{"window": "1h", "rate": -0.0}], "unit": "events"}),
        row._replace(details={"burn_rates": [{"window": "1h", "rate": 0.0}], "unit": "events"}),
        row._replace(details={"burn_rates": [{"window": "1h", "rate": "1.0"}], "unit": "events"}),
        row._replace(details={"burn_rates": [{"window": "1h", "rate": 1.0}], "unit": "slices"}),
        row._replace(at=AT + timedelta(microseconds=1)),
        row._replace(id="o-2"),
    ]
    *answered, count = built(bodies, changed)
    assert answered == [repr(c).encode() for c in changed] and count == str(len(changed)).encode()


def test_the_least_recently_read_rows_are_dropped_past_the_size_and_unencodable_rows_built_each_time() -> None:
    bodies = RowBodies(size=2)
    first, second, third = (Row(f"o-{n}", 0.9, {}, AT) for n in range(3))
    assert built(bodies, [first, second, first, third])[-1] == b"3"  # `second` read least lately: dropped
    assert built(bodies, [first, third])[-1] == b"0"
    assert built(bodies, [second])[-1] == b"1"
    odd = Row("o-9", 0.9, {"opaque": object()}, AT)
    assert built(bodies, [odd, odd])[-1] == b"2"
