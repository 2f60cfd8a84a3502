"""The servers and helpers tests start, so a pytest process ended for an overrun ends them too.

Ending the process (`os._exit`) skips every fixture's teardown and every `atexit` handler, and a
server left running holds its port, its folder and CPU for the rest of the run. What starts a
process registers how to end it at once; what stops it forgets it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

_running: dict[int, tuple[str, Callable[[], None]]] = {}


def started(owner: object, name: str, end: Callable[[], None]) -> None:
    """Remember how to end what `owner` started: `end` must not wait long."""
    _running[id(owner)] = (name, end)


def stopped(owner: object) -> None:
    """`owner` stopped what it started."""
    _running.pop(id(owner), None)


def started_process(process: subprocess.Popen[Any] | asyncio.subprocess.Process, name: str) -> None:
    """Remember a child process, to SIGKILL it."""
    started(process, name, lambda: _sigkill(process))


def started_under(owner: object, folder: Path, name: str) -> None:
    """Remember to SIGKILL every process whose command line names `folder` (`running_under`).

    For what a server's child leaves running once the server itself is SIGKILLed: the Chromium a service prints
    a report with, given `folder` as its TMPDIR, is no child of the test's process.
    """
    started(owner, name, lambda: end_under(folder))


def running_under(folder: Path) -> list[int]:
    """The processes whose command line names `folder` or a path under it (an argument `folder`, or holding
    `folder/`: `/x/test_x1` is not `/x/test_x10`)."""
    named, under = str(folder).encode(), os.path.join(folder, "").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue  # ended meanwhile
            if any(argument == named or under in argument for argument in arguments):
                found.append(int(entry.name))
    return found


def end_under(folder: Path) -> None:
    """SIGKILL every process whose command line names `folder` (`running_under`)."""
    for pid in running_under(folder):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def _sigkill(process: subprocess.Popen[Any] | asyncio.subprocess.Process) -> None:
    if process.returncode is None:  # not reaped yet, so its pid is still its own
        os.kill(process.pid, signal.SIGKILL)


def end_all() -> None:
    """End everything still registered, each on its own: one that fails does not spare the others."""
    for name, end in list(_running.values()):
        try:
            end()
        except Exception:  # noqa: BLE001 - the others must still be ended
            sys.stderr.write(f"+++ could not end {name}:\n{traceback.format_exc()}")
    _running.clear()
