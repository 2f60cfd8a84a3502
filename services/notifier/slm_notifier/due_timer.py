"""One loop timer for the earliest of many due times (a worker's retries, the claims other workers hold)."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from datetime import datetime

from slm_shared.db import utcnow
from slm_shared.tasks import MIN_WAKE_SECONDS

Due = tuple[datetime, str]  # (when, kind): `on_due` is told what fell due


class DueTimer:
    """Calls `on_due` with the due times that have passed, a little after the earliest of them (never before it,
    at least `MIN_WAKE_SECONDS` after it was set, so due times close together share one call), then is set again
    for the next. One `call_later` handle at a time; none once closed."""

    def __init__(self, on_due: Callable[[list[Due]], None]) -> None:
        self._on_due = on_due
        self._due: list[Due] = []  # a heap
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: datetime | None = None
        self._closed = False

    @property
    def armed_for(self) -> datetime | None:
        """The due time the timer is set for (None: not set)."""
        return self._armed_for

    def at(self, when: datetime, kind: str = "") -> None:
        """Call `on_due` once `when` has passed (after the shortest wait (`MIN_WAKE_SECONDS`), if it has already)."""
        heapq.heappush(self._due, (when, kind))
        self._arm()

    def close(self) -> None:
        """Cancel the timer for good: nothing is called, and nothing set, after this."""
        self._closed = True
        self._cancel()

    def _arm(self) -> None:
        if not self._due or self._closed:
            return
        first = self._due[0][0]
        if self._handle is not None and self._armed_for is not None and self._armed_for <= first:
            return  # the timer set fires first
        self._cancel()
        # a little late, never early
        delay = max((first - utcnow()).total_seconds(), MIN_WAKE_SECONDS) + 0.01
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)
        self._armed_for = first

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._armed_for = None

    def _fire(self) -> None:
        self._handle = self._armed_for = None
        now = utcnow()
        due: list[Due] = []
        while self._due and self._due[0][0] <= now:
            due.append(heapq.heappop(self._due))
        try:
            self._on_due(due)
        finally:  # set for the next even if `on_due` raised (its error goes on to the loop's handler)
            self._arm()
