"""Background tasks that always end: named, cancelled at shutdown and awaited within a bound.

Libraries can swallow a cancellation (nats-py turns it into other errors; on Python 3.11
`asyncio.wait_for` drops one that races with its result). A task that was asked to stop keeps
`Task.cancelling()` above zero even then, so every loop calls `checkpoint()` at its head and
every wait goes through `pause()` or `wait_for_event()`, which re-raise it.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import io
import logging
import traceback
from collections.abc import Coroutine, Iterable, Iterator
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

# A clock sleeping until its next due instant sleeps at least this long: instants close together share one pass
# (and one write transaction) rather than a pass each, at most this late.
MIN_WAKE_SECONDS = 0.1
FIRST_CANCEL_GRACE = 1.0  # time for cleanup (finally blocks) before cancelling again
RECANCEL_EVERY = 0.1


def checkpoint() -> None:
    """Raise CancelledError if the current task was asked to stop, even if a library swallowed it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def sleep_until_due(seconds_left: float | None, *, bound: float) -> float:
    """How long a clock sleeps when its next due instant is `seconds_left` away (None: nothing is due): until then,
    a little late and never early, at least `MIN_WAKE_SECONDS`, at most `bound`."""
    if seconds_left is None:
        return bound
    return min(bound, max(seconds_left, MIN_WAKE_SECONDS) + 0.001)


async def pause(seconds: float) -> None:
    """Sleep, then make sure a cancellation during the sleep was not lost."""
    await asyncio.sleep(seconds)
    checkpoint()


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; True if it was set. Never loses a cancellation."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        checkpoint()
        return False
    checkpoint()
    return True


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, grace_seconds: float) -> list[str]:
    """Cancel `tasks` and wait for them within `grace_seconds`; returns the names of those abandoned.

    Each task is cancelled once and given a moment for its clean-up, then cancelled again every
    100 ms in case a library swallowed the cancellation, until the bound.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    wait = min(FIRST_CANCEL_GRACE, grace_seconds)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=max(0.0, min(wait, deadline - loop.time())))
        if not pending or loop.time() >= deadline:
            break
        logger.debug("cancelling again: %s", sorted(task.get_name() for task in pending))
        for task in pending:
            task.cancel()
        wait = RECANCEL_EVERY
    abandoned = sorted(task.get_name() for task in pending)
    if abandoned:
        logger.error(
            "tasks still running %.1fs after shutdown began, abandoned: %s\n%s",
            grace_seconds,
            abandoned,
            task_stacks(pending),
        )
    return abandoned


def task_stacks(tasks: Iterable[asyncio.Task[Any]]) -> str:
    """The name, state and stack of each task, sorted by name: what a stop that overran still waits on.

    Safe to call from another thread while the loop is stuck: it only reads the tasks' frames.
    """
    out = io.StringIO()
    for task in sorted(tasks, key=lambda task: task.get_name()):
        state = "done" if task.done() else f"pending, cancel requested {task.cancelling()}x"
        out.write(f"--- task {task.get_name()} ({state})\n")
        if task.done():
            task.print_stack(file=out)  # its exception's traceback, if it had one
        else:
            out.write("".join(traceback.StackSummary.extract(_awaiting(task.get_coro())).format()))
    return out.getvalue()


def _awaiting(awaitable: object) -> Iterator[tuple[FrameType, int]]:
    """The frames from a task's coroutine down to the innermost await.

    `Task.print_stack` shows only the outermost coroutine's frame on Python 3.11, which says that a
    service's loop waits but not on what.
    """
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is None:
            frame = getattr(awaitable, "gi_frame", None)
        if frame is not None:
            yield frame, frame.f_lineno
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "ag_await", None)
            or getattr(awaitable, "gi_yieldfrom", None)
            or _generator_of(awaitable)
        )


def _generator_of(awaitable: object) -> object:
    """The async generator an `__anext__()`/`athrow()` awaitable steps (`async for`, `asynccontextmanager`).

    Those awaitables expose no attribute for it on Python 3.11; the garbage collector knows the reference.
    """
    if type(awaitable).__name__ not in ("async_generator_asend", "async_generator_athrow"):
        return None
    return next((ref for ref in gc.get_referents(awaitable) if inspect.isasyncgen(ref)), None)


async def run_within(coroutine: Coroutine[Any, Any, None], *, seconds: float, name: str) -> bool:
    """Run a clean-up step as a named task for at most `seconds`; False if it had to be abandoned."""
    task = asyncio.create_task(coroutine, name=name)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s failed: %r", name, task.exception())
        return True
    return not await stop_tasks([task], grace_seconds=1.0)


class TaskGroup:
    """The named background tasks of one service; `stop()` ends them all within a bound."""

    def __init__(self, *, grace_seconds: float = 5.0) -> None:
        self.grace_seconds = grace_seconds
        self.tasks: list[asyncio.Task[None]] = []
        self.abandoned: list[str] = []

    def start(self, coroutine: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run `coroutine` as a named task until `stop()`; a crash is logged, not lost."""
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(_log_crash)
        self.tasks.append(task)
        return task

    async def stop(self) -> list[str]:
        """Cancel every task and await them within the grace period; returns the abandoned names."""
        self.abandoned = await stop_tasks(self.tasks, grace_seconds=self.grace_seconds)
        return self.abandoned


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task %s ended with an error", task.get_name(), exc_info=task.exception())
