"""The JSON body a hot read answers for a row (and its ETag), kept for the rows read last.

For a read whose body is a function of the row it read alone (the principal checked on the row before the body is
asked for), building the body (a response model validated, then serialised) cost the objective read about a fifth
of its CPU on PostgreSQL. The same row read again, every column equal, gives the same bytes: those are kept, keyed
by a 128-bit BLAKE2b digest of the row as pickle writes it. Pickle keeps every value's type and exact value (NaN,
+inf, -inf and None; 1 and 1.0; -0.0 and 0.0; Decimal("1") and "1"; bytes and str; a UUID and its text; a lone
surrogate), where a JSON encoding writes several of these alike. Two rows with one pickle are equal in type and
value, so they have one body; two rows with one digest but different pickles would need a 128-bit collision, which
no workload meets by chance (a key is never chosen by a client to collide: it is the digest of a stored row).
Keeping the digest, not the encoded row, bounds a key at 16 bytes whatever the row holds (columns outside the body,
such as maintenance windows or observed spans, can be large). A changed row has a new key, so a body is never
stale. A row pickle cannot write is answered with a body built for it alone.

What is kept is bounded twice: at most `size` rows, and at most `max_bytes` of bodies (a body above a sixteenth of
that is answered and not kept, so one large body never drops the rest); the least recently read go first. Kept in
an `OrderedDict` rather than cachetools' `LRUCache`, which bounds one measure (rows, or bytes by `getsizeof`), not two.
`KeptBodies` is that bounded store alone, for a body kept under a key of the reader's own (the service list keeps
a page under its tenant's catalogue generation and its query).
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from slm_shared.web.conditional import body_etag

ROW_BODIES = 1024  # rows per process whose body is kept (besides the bodies: a 16-byte key and an ETag each)
ROW_BODY_BYTES = 4 * 1024 * 1024  # bytes of bodies kept per process (with 1,024 rows: 4 KiB a body on average)
# What pickling a row may raise for a value it cannot write (an object with no reduction, one whose reduction
# refuses, nesting deeper than the interpreter's recursion limit): such a row's body is built for it alone.
_UNPICKLABLE = (pickle.PicklingError, TypeError, ValueError, AttributeError, RecursionError)


K = TypeVar("K", bound=Hashable)


class KeptBodies(Generic[K]):
    """Bodies and their ETags kept under keys, bounded as above: the least recently read go first beyond `size`
    keys or `max_bytes` of bodies; a body above a sixteenth of `max_bytes` is answered and not kept."""

    def __init__(self, size: int = ROW_BODIES, max_bytes: int = ROW_BODY_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[K, tuple[bytes, str]] = OrderedDict()
        self._bytes = 0  # the length of the bodies in `_bodies`

    def get(self, key: K) -> tuple[bytes, str] | None:
        """The body and ETag kept under `key`, or None."""
        found = self._bodies.get(key)
        if found is not None:
            self._bodies.move_to_end(key)
        return found

    def keep(self, key: K, body: bytes) -> tuple[bytes, str]:
        """`body` and its ETag, kept under `key` if it is small enough (and anything is kept); a body kept under
        `key` before is dropped either way, so `get(key)` never answers it again."""
        answer = body, body_etag(body)
        if (replaced := self._bodies.pop(key, None)) is not None:  # kept again, or too large now: the old goes
            self._bytes -= len(replaced[0])
        if self.size and len(body) <= self.max_bytes // 16:
            self._bodies[key] = answer
            self._bytes += len(body)
        while self._bodies and (len(self._bodies) > self.size or self._bytes > self.max_bytes):
            self._bytes -= len(self._bodies.popitem(last=False)[1][0])
        return answer

    def __len__(self) -> int:
        return len(self._bodies)


class RowBodies(KeptBodies[bytes]):
    """The body and ETag built for each of the rows read last, answered again while the row is unchanged."""

    def body(self, row: Sequence[Any], build: Callable[[], bytes]) -> tuple[bytes, str]:
        """The body of `row` and its ETag: those built for an equal row before, else `build()`'s (kept if small)."""
        try:
            key = hashlib.blake2b(pickle.dumps(tuple(row), 5), digest_size=16).digest()
        except _UNPICKLABLE:
            body = build()
            return body, body_etag(body)
        found = self.get(key)
        if found is not None:
            return found
        return self.keep(key, build())
