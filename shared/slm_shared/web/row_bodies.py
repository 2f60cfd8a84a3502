"""The JSON body a hot read answers for a row, kept for the rows read last.

For a read whose body is a function of the row it read alone (the principal checked on the row before the body is
asked for), building the body (a response model validated, then serialised) cost the objective read about a fifth
of its CPU on PostgreSQL. The same row read again, every column equal, gives the same bytes: those are kept, keyed
by the row's values as msgspec encodes them (a few microseconds; 1 and 1.0, -0.0 and 0.0, "1" and 1 encode apart,
and with one instance per statement every column has one type, so two rows with one key hold equal values). A
changed row has a new key, so a body is never stale; the least recently read rows are dropped past `size`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
ROW_BODIES = 1024  # rows per process whose body is kept (its key and body: a few KB each, a few MB in all)


class RowBodies:
    """The body built for each of the last `size` rows read, answered again while the row is unchanged."""

    def __init__(self, size: int = ROW_BODIES) -> None:
        self.size = size
        self._bodies: OrderedDict[bytes, bytes] = OrderedDict()

    def body(self, row: Sequence[Any], build: Callable[[], bytes]) -> bytes:
        """The body of `row`: the one built for an equal row before, else `build()` (kept for the next read)."""
        try:
            key = _encode(row)
        except (TypeError, msgspec.EncodeError):  # a value msgspec cannot encode: built every time
            return build()
        found = self._bodies.get(key)
        if found is not None:
            self._bodies.move_to_end(key)
            return found
        body = self._bodies[key] = build()
        if len(self._bodies) > self.size:
            self._bodies.popitem(last=False)
        return body
