"""A row's body is built once while the row is unchanged, and again for any change of any value in it (its type
too); what is kept is bounded in rows and in bytes; a row that cannot be keyed is built every time."""

from __future__ import annotations

import threading
import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from slm_shared.web.conditional import body_etag
from slm_shared.web.row_bodies import KeptBodies, RowBodies

Row = namedtuple("Row", "id attainment details at")
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def built(bodies: RowBodies, rows: list[Any]) -> tuple[list[bytes], int]:
    """The bodies of `rows` read in turn (each checked against its ETag), and how many were built."""
    calls: list[Any] = []

    def body_of(row: Any) -> bytes:
        def build() -> bytes:
            calls.append(row)
            return repr(row).encode()

        body, etag = bodies.body(row, build)
        assert etag == body_etag(body)
        return body

    answered = [body_of(row) for row in rows]
    return answered, len(calls)


def test_an_equal_row_is_answered_as_built_and_any_changed_value_is_built_again() -> None:
    bodies = RowBodies()
    row = Row("o-1", 0.999, {"burn_rates": [{"window": "1h", "rate": 1.0}], "unit": "events"}, AT)
    same = Row("o-1", 0.999, {"burn_rates": [{"window": "1h", "rate": 1.0}], "unit": "events"}, AT)
    assert built(bodies, [row, same, row]) == ([repr(row).encode()] * 3, 1)

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
    assert built(bodies, changed) == ([repr(c).encode() for c in changed], len(changed))


def test_values_a_json_encoding_writes_alike_are_told_apart() -> None:
    """NaN, +inf, -inf and None are all `null` in JSON; a Decimal, a UUID and bytes are strings there."""
    ident = uuid.UUID(int=1)
    alike = [
        [None, float("nan"), float("inf"), float("-inf")],
        [Decimal("1"), "1", 1],
        [Decimal("1.0"), Decimal("1")],
        [b"1", "1"],
        [ident, str(ident)],
        ["\ud800", "\ufffd"],
    ]
    for values in alike:
        for column in ("attainment", "details"):
            bodies = RowBodies()
            rows = [
                Row("o-1", 0.9, {}, AT)._replace(**{column: v if column == "attainment" else {"budget_target": v}})
                for v in values
            ]
            assert built(bodies, rows) == ([repr(r).encode() for r in rows], len(rows)), (column, values)
            assert built(bodies, rows)[1] == 0  # each kept under its own key


def test_the_least_recently_read_rows_are_dropped_past_the_size_and_unpicklable_rows_built_each_time() -> None:
    bodies = RowBodies(size=2)
    first, second, third = (Row(f"o-{n}", 0.9, {}, AT) for n in range(3))
    assert built(bodies, [first, second, first, third])[1] == 3  # `second` read least lately: dropped
    assert built(bodies, [first, third])[1] == 0
    assert built(bodies, [second])[1] == 1
    for opaque in (threading.Lock(), lambda: None):
        odd = Row("o-9", 0.9, {"opaque": opaque}, AT)
        assert built(bodies, [odd, odd])[1] == 2


def test_the_bodies_kept_are_bounded_in_bytes() -> None:
    """Past `max_bytes` of bodies the least recently read go, whatever the row count; a body above a sixteenth of
    it is answered and never kept (so it drops nothing)."""
    row = Row("o-0", 0.9, {}, AT)
    size = len(repr(row).encode())
    bodies = RowBodies(size=1000, max_bytes=size * 16 + size // 2)  # room for 16 of these bodies, not 17
    rows = [row._replace(id=f"o-{n:0{len(row.id) - 2}}") for n in range(10)]
    rows += [row._replace(id=f"o-{chr(ord('a') + n)}") for n in range(7)]
    assert {len(repr(r).encode()) for r in rows} == {size}
    assert built(bodies, rows)[1] == 17
    assert built(bodies, rows[1:])[1] == 0  # the first, read least lately, went for the 17th
    assert built(bodies, rows[:1])[1] == 1

    large = Row("o-large", 0.9, {"note": "x" * size * 2}, AT)  # above a sixteenth of `max_bytes`
    kept = rows[2:]  # the 16 read last (rows[0] read again just now pushed out rows[1])
    assert built(bodies, [large, large])[1] == 2
    assert built(bodies, kept)[1] == 0


def test_a_key_kept_again_with_a_body_too_large_to_keep_answers_neither() -> None:
    bodies: KeptBodies[str] = KeptBodies(size=4, max_bytes=16 * 100)
    bodies.keep("page", b"old" * 10)
    bodies.keep("other", b"o" * 10)
    assert bodies.keep("page", b"n" * 101) == (b"n" * 101, body_etag(b"n" * 101))  # answered, above a sixteenth
    assert bodies.get("page") is None  # not the old body, which the key no longer stands for
    assert len(bodies) == 1 and bodies._bytes == 10 and bodies.get("other") == (b"o" * 10, body_etag(b"o" * 10))
    nothing: KeptBodies[str] = KeptBodies(size=0)
    nothing.keep("page", b"x")
    assert nothing.get("page") is None and nothing._bytes == 0
