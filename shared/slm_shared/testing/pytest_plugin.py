"""Pytest fixtures every service's tests share (loaded through the `pytest11` entry point)."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slm_shared.auth import issue_token
from slm_shared.bus.auth import NatsAuth
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.tasks import task_stacks
from slm_shared.testing import processes
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.postgres import PostgresServer
from slm_shared.testing.proxy import FreezableProxy

_db_counter = itertools.count()
_cancel_timer = pytest.StashKey[Callable[[], None]]()
_rearm_timer = pytest.StashKey[Callable[[], None]]()
_failing = pytest.StashKey[bool]()
_failed_reports: list[pytest.TestReport] = []  # this pytest process's, whose summary an overrun never prints


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """With pytest-timeout's thread method, print every asyncio task's stack before it ends the process.

    The thread method is the one pytest.ini sets: the signal method raises its failure at whatever
    bytecode the event loop is running, and where that is a callback or a task's step, asyncio
    swallows it or loses the step (the loop's final cancellation then waits forever for that task).
    A test that overruns, in its set-up, call or teardown, ends the pytest process instead; the
    thread stacks pytest-timeout prints show only the loop waiting, so the tasks' stacks come first.
    The timer also outlives a failure of the test (see `pytest_exception_interact`).
    """
    if settings.method != "thread":
        return None

    def arm() -> None:
        timer = threading.Timer(settings.timeout, _overran, (item, settings))
        timer.name = f"slm timeout {item.nodeid}"
        timer.daemon = True

        def cancel() -> None:
            timer.cancel()
            timer.join()

        item.stash[_cancel_timer] = cancel
        timer.start()

    item.stash[_rearm_timer] = arm
    arm()
    return True


@pytest.hookimpl(wrapper=True)
def pytest_exception_interact(
    node: pytest.Item | pytest.Collector, report: pytest.TestReport | pytest.CollectReport
) -> Iterator[None]:
    """Mark the time pytest-timeout cancels a failed test's timer, meant for a post-mortem debugger.

    It does so on every failure of a test's set-up or call, `--pdb` or not, and the test's teardown
    then had no bound: a task a failed shutdown check left running, awaiting again after the loop's
    final cancellation, hung the run.
    """
    node.stash[_failing] = True
    try:
        return (yield)
    finally:
        del node.stash[_failing]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """A test that failed gets its whole timeout again for its teardown.

    A failure late in the test left its teardown only the rest of the budget: a whole-stack test
    failing at 100 s of its 120 s gave the stack's stop 20 s, and an honest stop ended the process.
    """
    failed = any(report.nodeid == item.nodeid and report.when != "teardown" for report in _failed_reports)
    cancel = item.stash.get(_cancel_timer, None)
    if failed and cancel is not None:
        cancel()
        item.stash[_rearm_timer]()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep every failure: a process ended for an overrun prints them, as its summary never comes."""
    if report.failed:
        _failed_reports.append(report)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    """Cancel the timer at the end of the test, or for a debugger; a failure alone keeps the teardown bounded."""
    cancel = item.stash.get(_cancel_timer, None)
    if cancel is None:
        return None
    if item.stash.get(_failing, False) and not item.config.getoption("usepdb", False):
        return True
    del item.stash[_cancel_timer]
    cancel()
    return True


def _overran(item: pytest.Item, settings: Any) -> None:
    """Print what the test waits on, end what the tests started, then have pytest-timeout end the process.

    Nothing here may keep the process from ending: what the timeout is for is a run that goes on.
    """
    import pytest_timeout  # type: ignore[import-untyped]  # only loaded when pytest-timeout is (`-p no:timeout`)

    if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
        return  # what pytest-timeout's own handler does: the debugger's servers stay up too
    try:
        _print_overrun(item, settings)
    except Exception:  # noqa: BLE001 - the timeout must not be lost to a failure to describe it
        traceback.print_exc()
    finally:
        try:
            processes.end_all()  # ending the process skips the fixtures' teardown, which would stop them
        finally:
            try:
                pytest_timeout.timeout_timer(item, settings)  # prints every thread's stack and ends the process
            except BaseException:  # noqa: BLE001 - the last resort: the process must end
                os._exit(1)


def _print_overrun(item: pytest.Item, settings: Any) -> None:
    """The test's id, this process's failures (their summary is never printed) and the tasks of the test's loops."""
    sys.stderr.write(f"\n+++ {item.nodeid} overran its {settings.timeout:g}s timeout +++\n")
    for report in _failed_reports:
        sys.stderr.write(f"\n+++ {report.nodeid} failed in its {report.when}:\n{report.longreprtext}\n")
    # a test function's fixture values, pytest-asyncio's runner among them (its loop holds the tasks)
    fixtures: dict[str, Any] = getattr(item, "funcargs", {})
    for value in list(fixtures.values()):
        if not isinstance(value, asyncio.Runner):
            continue
        try:
            loop = value.get_loop()
        except RuntimeError:
            continue  # the runner is closed: its loop and tasks are gone
        if not loop.is_closed():
            sys.stderr.write(f"\n+++ asyncio tasks of {item.nodeid} after {settings.timeout:g}s +++\n")
            sys.stderr.write(task_stacks(asyncio.all_tasks(loop)))
    sys.stderr.flush()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream for the whole test session, requiring logins.

    Each service's app logs in as its own user (`service_login`), so a subject its permissions
    do not allow fails in its own tests; `url` logs in as the operator, for test harnesses.
    """
    auth = NatsAuth.generate()
    server = NatsServer(tmp_path_factory.mktemp("nats"), auth=auth, login="slm-operator").start()
    yield server
    server.stop()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own, which it may stop."""
    server = NatsServer(tmp_path / "private-nats").start()
    yield server
    server.kill()  # nothing in it outlives the test


@pytest.fixture
def nats_proxy(private_nats: NatsServer) -> Iterator[FreezableProxy]:
    """A freezable TCP proxy in front of `private_nats`."""
    proxy = FreezableProxy(private_nats.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server, or a visible skip where none can be started here."""
    try:
        server = PostgresServer().start()
    except (FileNotFoundError, KeyError, OSError) as exc:
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")
    except Exception as exc:  # noqa: BLE001 - initdb/pg_ctl failures carry their output
        pytest.skip(f"PostgreSQL failed to start: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{next(_db_counter)}_{abs(hash(request.node.nodeid)) % 10**8}")


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> str:
    """A fresh PostgreSQL database, for tests of what only concurrency on PostgreSQL shows."""
    return postgres_server.create_database(f"pg_{next(_db_counter)}_{abs(hash(request.node.nodeid)) % 10**8}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


def make_token(tenant: str = "acme", roles: tuple[str, ...] = ("admin",), party: str | None = None) -> str:
    """A development token for tests."""
    return issue_token(DEVELOPMENT_JWT_SECRET, tenant=tenant, roles=roles, party=party)


@pytest.fixture
def token_factory():  # type: ignore[no-untyped-def]
    return make_token
