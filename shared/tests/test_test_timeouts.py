"""A test that overruns ends its pytest process with every task's stack, never hangs the run.

Under pytest-timeout's signal method such a test failed, and then the event loop's final
cancellation waited forever for a task that awaits again after being cancelled: nothing bounded
the teardown once the one alarm had fired.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

OVERRUNNING_TEST = """
import asyncio


async def test_overruns() -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.get_running_loop().create_future()  # nobody resolves it

    asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(3600)
"""


def test_an_overrunning_test_ends_the_process_with_its_tasks_stacks(tmp_path: Path) -> None:
    (tmp_path / "test_overrun.py").write_text(OVERRUNNING_TEST)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(tmp_path)]
    command += ["-p", "no:cacheprovider", "-o", "timeout=2", "test_overrun.py"]
    # the bound only stops a hang (the old behaviour) from hanging this test too; the run takes seconds
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=50)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "+++ asyncio tasks of test_overrun.py::test_overruns after 2s +++" in output, output
    assert "--- task stubborn (pending" in output, output
    assert "in test_overruns" in output, output  # the test's own task, where it waits
