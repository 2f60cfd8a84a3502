"""The due timer on a real event loop: one handle for the earliest due time, never early, none once closed.

Waits are bounded generously (a loaded machine only makes a timer late); what is asserted is which due times
fell due, when the timer fired against them, and which time it is set for, not how long anything took."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from slm_notifier.due_timer import Due, DueTimer
from slm_shared.db import utcnow
from slm_shared.tasks import MIN_WAKE_SECONDS

BOUND = 30.0  # seconds: far past any due time here, however loaded the machine


class Calls:
    """What a timer called back with, and when (wall clock; and the loop's clock, in `loop_times`) each call came."""

    def __init__(self) -> None:
        self.calls: list[tuple[datetime, list[Due]]] = []
        self.loop_times: list[float] = []
        self._called = asyncio.Event()

    def __call__(self, due: list[Due]) -> None:
        self.calls.append((utcnow(), due))
        self.loop_times.append(asyncio.get_running_loop().time())
        self._called.set()

    async def next(self) -> tuple[datetime, list[Due]]:
        """The next call (waiting for it, within `BOUND`)."""
        seen = len(self.calls)
        while len(self.calls) == seen:
            self._called.clear()
            async with asyncio.timeout(BOUND):
                await self._called.wait()
        return self.calls[seen]


CallsTimer = tuple[Calls, DueTimer]


@pytest.fixture
async def calls_timer() -> AsyncIterator[CallsTimer]:
    """A timer calling back into a `Calls`, closed when the test ends."""
    calls = Calls()
    timer = DueTimer(calls)
    try:
        yield calls, timer
    finally:
        timer.close()


def pending(timer: DueTimer) -> list[asyncio.TimerHandle]:
    """The timer's handles pending in the running loop."""
    scheduled: list[asyncio.TimerHandle] = getattr(asyncio.get_running_loop(), "_scheduled", [])
    return [h for h in scheduled if not h.cancelled() and getattr(h, "_callback", None) == timer._fire]


def seconds_left(timer: DueTimer) -> tuple[float, float, float]:
    """Seconds to the due time the timer is set for (read before), until its handle runs, and to the due time again
    (read after): a handle set for that due time runs after the last, and a little after the first (0.01 s, plus
    however long the loop was held between the two clock reads in `DueTimer._arm`)."""
    assert timer.armed_for is not None
    before = (timer.armed_for - utcnow()).total_seconds()
    [handle] = pending(timer)
    runs_in = handle.when() - asyncio.get_running_loop().time()
    after = (timer.armed_for - utcnow()).total_seconds()
    return before, runs_in, after


async def test_it_is_set_for_the_earliest_due_time_and_fires_for_it_never_before(calls_timer: CallsTimer) -> None:
    calls, timer = calls_timer
    now = utcnow()
    soon, later, latest = now + timedelta(seconds=0.3), now + timedelta(hours=1), now + timedelta(days=1)
    timer.at(later, "retry")
    timer.at(latest)
    timer.at(soon, "lease end")
    assert timer.armed_for == soon and len(pending(timer)) == 1
    before, runs_in, after = seconds_left(timer)
    assert after < runs_in < before + 0.5  # the handle runs just after the due time, not before it

    fired_at, due = await calls.next()
    assert due == [(soon, "lease end")] and fired_at >= soon  # only what has passed, not before it did
    assert timer.armed_for == later and len(pending(timer)) == 1  # set again for the next


async def test_a_later_due_time_does_not_delay_an_earlier_one(calls_timer: CallsTimer) -> None:
    calls, timer = calls_timer
    now = utcnow()
    soon = now + timedelta(seconds=0.2)
    timer.at(soon)
    [handle] = pending(timer)
    timer.at(now + timedelta(hours=1))
    assert timer.armed_for == soon and pending(timer) == [handle]  # the same handle, untouched

    fired_at, due = await calls.next()
    assert due == [(soon, "")] and fired_at >= soon


async def test_an_earlier_due_time_sets_the_timer_sooner(calls_timer: CallsTimer) -> None:
    calls, timer = calls_timer
    now = utcnow()
    soon = now + timedelta(seconds=0.2)
    timer.at(now + timedelta(hours=1))
    timer.at(soon)
    assert timer.armed_for == soon and len(pending(timer)) == 1  # the later one's handle was cancelled

    _, due = await calls.next()
    assert due == [(soon, "")]


async def test_due_times_already_passed_fire_after_the_shortest_wait_in_one_call(calls_timer: CallsTimer) -> None:
    calls, timer = calls_timer
    now = utcnow()
    past, long_past = now - timedelta(seconds=5), now - timedelta(hours=1)
    set_at = asyncio.get_running_loop().time()
    timer.at(past, "retry")
    timer.at(long_past, "lease end")
    assert timer.armed_for == long_past
    _, runs_in, _ = seconds_left(timer)
    assert runs_in <= MIN_WAKE_SECONDS + 0.011  # after the shortest wait, no later

    _, due = await calls.next()
    assert due == [(long_past, "lease end"), (past, "retry")]  # both in one call, told apart
    assert calls.loop_times[0] - set_at >= MIN_WAKE_SECONDS  # but not sooner than the shortest wait
    assert timer.armed_for is None and pending(timer) == []  # nothing left to wait for


async def test_a_closed_timer_never_fires_and_is_not_set_again() -> None:
    closed_calls, control_calls = Calls(), Calls()
    closed, control = DueTimer(closed_calls), DueTimer(control_calls)
    now = utcnow()
    try:
        closed.at(now + timedelta(seconds=0.2))
        control.at(now + timedelta(seconds=0.4))  # due after the closed one would have fired
        closed.close()
        assert closed.armed_for is None and pending(closed) == []
        closed.at(now - timedelta(seconds=1))  # due already: still nothing is set
        assert closed.armed_for is None and pending(closed) == []

        await control_calls.next()
        await asyncio.sleep(0)
        assert closed_calls.calls == []
    finally:
        closed.close()
        control.close()


async def test_it_is_set_again_when_the_callback_raises() -> None:
    calls = Calls()
    errors: list[dict[str, object]] = []

    def raising(due: list[Due]) -> None:
        calls(due)
        if len(calls.calls) == 1:
            raise RuntimeError("on_due failed")

    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    timer = DueTimer(raising)
    now = utcnow()
    first, second = now + timedelta(seconds=0.2), now + timedelta(seconds=1.5)  # apart on a loaded machine
    try:
        timer.at(first)
        timer.at(second)
        _, due = await calls.next()
        assert due == [(first, "")]
        assert timer.armed_for == second and len(pending(timer)) == 1  # set again despite the error

        _, due = await calls.next()
        assert due == [(second, "")]
        [error] = errors  # the error was not swallowed: the loop's handler had it
        assert isinstance(error.get("exception"), RuntimeError)
    finally:
        timer.close()
        loop.set_exception_handler(handler)
