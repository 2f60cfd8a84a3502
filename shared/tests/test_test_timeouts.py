"""A test that overruns, in its call or in its teardown after a failure, ends its pytest process with
every task's stack; it never hangs the run.

Both overruns hung a run before: under pytest-timeout's signal method the one alarm, once fired, left
the event loop's final cancellation unbounded, and on any failure of a test pytest-timeout cancelled
the timer (for a post-mortem debugger), so the teardown of a failed test had no bound either. That
final cancellation waits forever for a task that awaits again after being cancelled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slm_shared.testing.postgres import PostgresServer

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
import time
from pathlib import Path

import pytest


@pytest.fixture
def hangs_in_set_up(private_nats):
    Path("pids").write_text(str(private_nats.process.pid))
    time.sleep(3600)


async def test_overruns_in_its_set_up(hangs_in_set_up) -> None:
    pass
"""

PROCESSES_TEST = """
import subprocess
import sys
import time
from pathlib import Path

from slm_shared.testing import processes
from slm_shared.testing.nats_server import NatsServer


def test_overruns_with_its_own_processes(tmp_path) -> None:
    nats = NatsServer(tmp_path / "nats").start()
    helper = subprocess.Popen(["sleep", "3600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.started_process(helper, "a test's helper")
    folder = tmp_path / "printing"  # what a server's child runs under (a service's Chromium, by its TMPDIR)
    processes.started_under(folder, folder, "what runs under the folder")
    under = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", str(folder)])
    Path("pids").write_text(f"{nats.process.pid} {helper.pid} {under.pid}")
    time.sleep(3600)
"""

CLOSED_LOOP_TEST = """
import time

import pytest


@pytest.fixture
def slow_to_stop():
    yield
    time.sleep(20)


async def test_stops_slowly_after_its_loop_closed(slow_to_stop) -> None:
    pass
"""

EARLIER_FAILURE_TEST = """
import time


def test_fails_first() -> None:
    assert False, "a failure earlier in the process"


def test_overruns_next() -> None:
    time.sleep(3600)
"""

LATE_FAILURE_TEST = """
import time

import pytest


@pytest.fixture
def slow_to_stop():
    yield
    time.sleep(1.5)


@pytest.mark.timeout(3)
def test_fails_late(slow_to_stop) -> None:
    time.sleep(2.5)
    assert False, "a failure late in the test"
"""

DEBUGGER_TEST = """
import asyncio

import pytest_timeout


async def test_waits_in_a_debugger(private_nats) -> None:
    pytest_timeout.SUPPRESS_TIMEOUT = True  # what entering pytest's debugger sets
    await asyncio.sleep(3)
    assert private_nats.process.poll() is None, "the debugged test's server was killed"
"""

PASSING_TEST = """
def test_passes() -> None:
    pass
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


def pytest_in(tmp_path: Path, test: str, *options: str) -> tuple[int, str]:
    """Run `test` under the project's pytest.ini and `options`; its exit status and output."""
    (tmp_path / "test_it.py").write_text(test)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(tmp_path)]
    command += ["-p", "no:cacheprovider", *options, "test_it.py"]
    env = {name: value for name, value in os.environ.items() if name not in ("PYTEST_TIMEOUT", "PYTEST_ADDOPTS")}
    # its own process group, so that a hang (the old behaviour) is ended with the servers it started
    run = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = run.communicate(timeout=50)  # the bound only stops a hang; the run takes seconds
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        output, _ = run.communicate()
        raise AssertionError(f"pytest still ran after 50 s:\n{output}") from None
    return run.returncode, output


def run_overrunning(tmp_path: Path, test: str) -> str:
    """The output of a run of `test`, after checking the test's overrun ended the process."""
    returncode, output = pytest_in(tmp_path, test, "--timeout=2")
    assert returncode != 0 and "+++ Timeout +++" in output, output
    return output


def is_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_an_overrunning_test_ends_the_process_with_its_tasks_stacks(tmp_path: Path) -> None:
    output = run_overrunning(tmp_path, OVERRUNNING_TEST)
    assert "+++ asyncio tasks of test_it.py::test_overruns after 2s +++" in output, output
    assert "--- task stubborn (pending" in output, output
    assert "in test_overruns" in output, output  # the test's own task, where it waits


def test_a_failed_test_whose_teardown_hangs_ends_the_process_with_the_stuck_task(tmp_path: Path) -> None:
    output = run_overrunning(tmp_path, FAILING_TEST)
    assert "+++ test_it.py::test_fails failed in its call:" in output, output
    assert "a failed check that left a task running" in output, output
    assert "+++ asyncio tasks of test_it.py::test_fails after 2s +++" in output, output
    assert "--- task stubborn (pending, cancel requested 1x)" in output, output  # the loop's final cancellation
    assert "create_future()  # nobody resolves it" in output, output  # where it waits after being cancelled


def test_an_overrunning_test_leaves_no_nats_server_running(tmp_path: Path) -> None:
    output = run_overrunning(tmp_path, SERVER_TEST)
    assert "+++ test_it.py::test_overruns_in_its_set_up overran its 2s timeout +++" in output, output
    assert is_gone(int((tmp_path / "pids").read_text())), output


def test_an_overrunning_test_leaves_no_process_it_started_running(tmp_path: Path) -> None:
    output = run_overrunning(tmp_path, PROCESSES_TEST)
    for pid in (tmp_path / "pids").read_text().split():
        assert is_gone(int(pid)), output


def test_an_overrun_after_the_test_loop_closed_still_ends_the_process(tmp_path: Path) -> None:
    output = run_overrunning(tmp_path, CLOSED_LOOP_TEST)
    assert "test_it.py::test_stops_slowly_after_its_loop_closed overran its 2s timeout" in output, output
    assert "asyncio tasks of" not in output, output  # its loop is gone: nothing to print


def test_an_overrun_prints_every_earlier_failure_of_the_process(tmp_path: Path) -> None:
    output = run_overrunning(tmp_path, EARLIER_FAILURE_TEST)
    assert "+++ test_it.py::test_fails_first failed in its call:" in output, output
    assert "a failure earlier in the process" in output, output
    assert "+++ test_it.py::test_overruns_next overran its 2s timeout +++" in output, output


def test_a_failed_test_gets_its_whole_timeout_again_for_its_teardown(tmp_path: Path) -> None:
    returncode, output = pytest_in(tmp_path, LATE_FAILURE_TEST, "--timeout=2")
    assert returncode == 1 and "1 failed" in output, output
    assert "a failure late in the test" in output and "Timeout" not in output, output


def test_a_test_in_a_debugger_keeps_its_servers_and_prints_nothing(tmp_path: Path) -> None:
    returncode, output = pytest_in(tmp_path, DEBUGGER_TEST, "--timeout=2")
    assert returncode == 0, output
    assert "overran" not in output, output


def test_pytest_runs_without_pytest_timeout(tmp_path: Path) -> None:
    returncode, output = pytest_in(tmp_path, PASSING_TEST, "-p", "no:timeout")
    assert returncode == 0 and "1 passed" in output, output


def test_ending_a_postgresql_server_now_stops_it_and_removes_its_folder() -> None:
    try:
        server = PostgresServer().start()
    except (FileNotFoundError, KeyError, OSError) as exc:
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")
    postmaster = int((server.data / "postmaster.pid").read_text().splitlines()[0])
    server.end_now()
    deadline = time.monotonic() + 60  # a hang guard: it ends in well under a second
    while not (is_gone(postmaster) and not server.root.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert is_gone(postmaster)
    assert not server.root.exists()
