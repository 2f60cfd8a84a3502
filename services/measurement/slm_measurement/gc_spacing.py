"""Young garbage collections spaced out while an evaluation pass works on a chunk (see `collections_spaced`)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SPACED_YOUNG = 50_000  # allocations between young collections while a pass evaluates a chunk (CPython's default: 700)
_spacings = 0  # the chunks spacing collections out in this process now (any thread, any event loop)
_restore: tuple[int, int, int] = (0, 0, 0)  # the thresholds in effect when the first of them began
_spacing = threading.Lock()


@contextmanager
def collections_spaced() -> Iterator[None]:
    """Young garbage collections spaced out while a pass evaluates a chunk (see `service.evaluate_due`).

    A chunk allocates many small objects (rows, plans, readings, judgements, outcome rows) that live
    until it is written: collected every 700 allocations, each young collection rescans the chunk's
    survivors and promotes them, and every few passes a full collection of the heap lands inside
    one. With young collections `SPACED_YOUNG` allocations apart they are few, and the chunk's
    objects are freed by reference counting when it ends. Collection is never switched off: while a
    chunk waits on a lock, a connection or a read, other tasks' cyclic garbage is still collected,
    only less often. (Pausing collection around the synchronous judging alone spared none: most of
    a chunk's allocations happen while its tallies are read.)

    Spacings count process-wide: the thresholds come back when the last active one ends, as they
    were when the first began, unless someone else set them meanwhile (theirs then stay).
    """
    global _spacings, _restore
    with _spacing:
        if _spacings == 0:
            _restore = gc.get_threshold()
            if _restore[0]:  # 0: automatic collection off (someone else's choice, kept)
                gc.set_threshold(max(_restore[0], SPACED_YOUNG), *_restore[1:])
        _spacings += 1
        spaced = gc.get_threshold()
    try:
        yield
    finally:
        with _spacing:
            _spacings -= 1
            if _spacings == 0 and gc.get_threshold() == spaced:
                gc.set_threshold(*_restore)
