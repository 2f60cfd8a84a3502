"""A test that overruns, in its call or in its teardown after a failure, ends its pytest process with
every task's stack; it never hangs the run.

Both overruns hung a run before: under pytest-timeout's signal method the one alarm, once fired, left
the event loop's final cancellation unbounded, and on any failure of a test pytest-timeout cancelled
the timer (for a post-mortem debugger), so the teardown of a failed test had no bound either. That
final cancellation waits forever for a task that awaits again after being cancelled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

STUBBORN_TASK = """
import asyncio


def start_stubborn() -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.get_running_loop().create_future()  # nobody resolves it

    asyncio.create_task(stubborn(), name="stubborn")
"""

OVERRUNNING_TEST = (
    STUBBORN_TASK
    + """

async def test_overruns() -> None:
    start_stubborn()
    await asyncio.sleep(3600)
"""
)

SERVER_TEST = """
import asyncio
from pathlib import Path


async def test_overruns_with_a_server(private_nats) -> None:
    Path("nats.pid").write_text(str(private_nats.process.pid))
    await asyncio.sleep(3600)
"""

FAILING_TEST = (
    STUBBORN_TASK
    + """

async def test_fails() -> None:
    start_stubborn()
    await asyncio.sleep(0)
    assert False, "a failed check that left a task running"
"""
)


def run_pytest(tmp_path: Path, test: str) -> str:
    """Run `test` under the project's pytest.ini with a 2 s timeout; its output, after checking it failed."""
    (tmp_path / "test_it.py").write_text(test)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(tmp_path)]
    command += ["-p", "no:cacheprovider", "-o", "timeout=2", "test_it.py"]
    # the bound only stops a hang (the old behaviour) from hanging this test too; the run takes seconds
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=50)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    return output


def test_an_overrunning_test_ends_the_process_with_its_tasks_stacks(tmp_path: Path) -> None:
    output = run_pytest(tmp_path, OVERRUNNING_TEST)
    assert "+++ asyncio tasks of test_it.py::test_overruns after 2s +++" in output, output
    assert "--- task stubborn (pending" in output, output
    assert "in test_overruns" in output, output  # the test's own task, where it waits


def test_a_failed_test_whose_teardown_hangs_ends_the_process_with_the_stuck_task(tmp_path: Path) -> None:
    output = run_pytest(tmp_path, FAILING_TEST)
    assert "test_it.py::test_fails had failed before it overran, in its call:" in output, output
    assert "a failed check that left a task running" in output, output
    assert "+++ asyncio tasks of test_it.py::test_fails after 2s +++" in output, output
    assert "--- task stubborn (pending, cancel requested 1x)" in output, output  # the loop's final cancellation
    assert "create_future()  # nobody resolves it" in output, output  # where it waits after being cancelled


def test_an_overrunning_test_leaves_no_nats_server_running(tmp_path: Path) -> None:
    run_pytest(tmp_path, SERVER_TEST)
    pid = int((tmp_path / "nats.pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
