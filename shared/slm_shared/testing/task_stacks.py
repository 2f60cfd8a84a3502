"""Every asyncio task's stack as text: what a stop or a test that overran was waiting on."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from typing import Any


def task_stacks(tasks: Iterable[asyncio.Task[Any]]) -> str:
    """The name, cancellation state and stack of each task, sorted by name.

    Safe to call from another thread while the loop is stuck: it only reads the tasks' frames.
    A task asked to stop that still waits here is what a loop's final cancellation would wait for.
    """
    out = io.StringIO()
    for task in sorted(tasks, key=lambda task: task.get_name()):
        state = "done" if task.done() else f"pending, cancel requested {task.cancelling()}x"
        out.write(f"--- task {task.get_name()} ({state})\n")
        task.print_stack(file=out)
    return out.getvalue()
