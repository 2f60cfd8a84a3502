"""Background tasks end on cancellation, even when a library swallows it, and stop within a bound."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from slm_shared.tasks import (
    MIN_WAKE_SECONDS,
    TaskGroup,
    checkpoint,
    pause,
    sleep_until_due,
    stop_tasks,
    task_stacks,
    wait_for_event,
)


async def test_checkpoint_recovers_a_cancellation_a_library_swallowed() -> None:
    looped = 0

    async def worker() -> None:
        nonlocal looped
        while True:
            checkpoint()
            looped += 1
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # what nats-py and Python 3.11's wait_for can do

    task = asyncio.create_task(worker())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1)
    assert looped == 1  # it did not go round again


async def test_pause_and_wait_for_event_never_lose_a_cancellation() -> None:
    event = asyncio.Event()
    assert await wait_for_event(event, 0.01) is False
    event.set()
    assert await wait_for_event(event, 1) is True

    for waiting in (lambda: pause(10), lambda: wait_for_event(asyncio.Event(), 10)):
        task = asyncio.create_task(waiting())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_group_stops_cooperative_tasks_at_once() -> None:
    group = TaskGroup(grace_seconds=5)
    for n in range(5):
        group.start(pause(30), name=f"sleeper-{n}")
    started = time.monotonic()
    assert await group.stop() == []
    assert time.monotonic() - started < 2  # well inside the 5 s grace: nobody waited for it
    assert all(task.done() for task in group.tasks)


async def test_a_task_that_ignores_cancellation_is_named_and_abandoned_within_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn-worker")
    try:
        await asyncio.sleep(0.02)  # inside its loop
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="slm_shared.tasks"):
            abandoned = await stop_tasks([task], grace_seconds=1.5)
        assert abandoned == ["stubborn-worker"]
        assert 1.4 < time.monotonic() - started < 4
        assert "stubborn-worker" in caplog.text
        assert "in stubborn" in caplog.text  # its stack: where it keeps waiting
    finally:
        release.set()  # let it go, failed or not, so the test's event loop can close
        await asyncio.wait({task}, timeout=1)


async def test_a_crashed_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    group = TaskGroup()
    with caplog.at_level(logging.ERROR, logger="slm_shared.tasks"):
        group.start(crash(), name="crasher")
        await asyncio.sleep(0.01)
    assert "crasher" in caplog.text and "boom" in caplog.text
    assert await group.stop() == []


async def test_a_task_stack_goes_down_to_the_innermost_await() -> None:
    released = asyncio.Event()

    async def innermost() -> None:
        await released.wait()

    async def steps() -> AsyncIterator[int]:
        yield 1
        await innermost()
        yield 2

    async def outermost() -> None:
        async for _ in steps():
            pass

    task = asyncio.create_task(outermost(), name="deep")
    await asyncio.sleep(0.01)
    stacks = task_stacks([task])
    released.set()
    await task
    for frame in ("in outermost", "in steps", "in innermost", "await released.wait()"):
        assert frame in stacks, stacks


def test_a_clock_sleeps_until_due_never_early_at_least_the_minimum_at_most_its_bound() -> None:
    assert sleep_until_due(None, bound=5.0) == 5.0
    assert sleep_until_due(60.0, bound=5.0) == 5.0
    assert 2.0 < sleep_until_due(2.0, bound=5.0) < 2.01
    # due now, past or in a few milliseconds: instants close together share one pass
    for left in (-3.0, 0.0, 0.002):
        assert MIN_WAKE_SECONDS <= sleep_until_due(left, bound=5.0) < MIN_WAKE_SECONDS + 0.01
