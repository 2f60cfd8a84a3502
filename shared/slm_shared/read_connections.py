"""The PostgreSQL connections `slm_shared.reads` runs one-statement reads on (`ReadConnections`).

A read cancelled mid-statement waits for the server to acknowledge the cancel through a part of asyncpg that is
not public (`Protocol._wait_for_cancellation`, what asyncpg's own pool waits on). `unsupported` checks it is still
there as expected; if a newer release changed it, a warning is logged (once) and the wait is a statement of its own
on the connection (`SELECT 1`: asyncpg runs none before the cancel is acknowledged), a round trip more per
cancelled read, never a connection reused while its statement runs.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)
_WARNED: set[str] = set()  # what `unsupported` found, logged once a process


def _protocol_class() -> Any:
    """asyncpg's `Protocol` (not public: looked up when asked for, so that a release without it still starts)."""
    try:
        return importlib.import_module("asyncpg.protocol").Protocol
    except (ImportError, AttributeError):
        return None


def unsupported() -> str | None:
    """What `ReadConnections.settle` relies on that the installed asyncpg no longer has as expected, or None."""
    if (protocol := _protocol_class()) is None:
        return "asyncpg's asyncpg.protocol.Protocol is gone"
    wait = getattr(protocol, "_wait_for_cancellation", None)
    if wait is None:
        return "asyncpg's Protocol._wait_for_cancellation is gone"
    if not inspect.iscoroutinefunction(wait):
        return "asyncpg's Protocol._wait_for_cancellation is not a coroutine function"
    if list(inspect.signature(wait).parameters) != ["self", "timeout"]:
        return "asyncpg's Protocol._wait_for_cancellation no longer takes (self, timeout)"
    if "_protocol" not in getattr(asyncpg.Connection, "__slots__", ()):
        return "asyncpg's Connection has no _protocol"
    return None


def _waits_on_the_protocol() -> bool:
    """Whether a cancelled read waits on asyncpg's protocol (`unsupported` finds nothing changed), else a warning
    (once a process) and False: it waits on a statement of its own."""
    try:
        changed = unsupported()
    except Exception as error:  # noqa: BLE001 - whatever a changed release breaks here, the statement remains
        changed = f"{type(error).__name__}: {error}"
    if changed is None:
        return True
    if changed not in _WARNED:
        _WARNED.add(changed)
        logger.warning(
            "a read cancelled mid-statement waits for the server's acknowledgement with a statement of its own "
            "(a round trip more): %s (asyncpg %s; slm_shared.read_connections expects the version pinned in "
            "constraints.txt)",
            changed,
            getattr(asyncpg, "__version__", "?"),
        )
    return False


class ReadConnections:
    """At most `size` asyncpg connections for one-statement reads, opened when needed, the last released first.

    In place of `asyncpg.Pool`, whose acquire and release cost as much CPU as the statement itself (a task, a
    timer, a proxy and a reset per use; bench/read_pool_bench.py): here an acquire takes an idle connection
    from a list and a release puts it back, with nothing to reset (read-only, autocommit, nothing a read does
    outlives it). A connection a release is told is not reusable is terminated and another opened in its place
    when needed; one idle for longer than IDLE_SECONDS is closed when another is released (the fewer connections
    a quieter load needs), one older than MAX_AGE_SECONDS when it is released (what a server keeps per session,
    such as its caches, does not grow for ever). One whose read was cancelled mid-statement (`settle`) stays
    counted until the server has stopped the statement: the server never runs more than `size` of them.
    """

    IDLE_SECONDS = 300.0  # as asyncpg's pool (`max_inactive_connection_lifetime`)
    MAX_AGE_SECONDS = 1800.0  # in place of asyncpg's pool's `max_queries`
    CANCEL_SECONDS = 5.0  # for the server to acknowledge a cancelled statement, else the connection is terminated

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[tuple[asyncpg.Connection, float]] = []  # with when each was released; the newest last
        self._opened = 0  # idle, in use, settling or opening
        self._opened_at: weakref.WeakKeyDictionary[asyncpg.Connection, float] = weakref.WeakKeyDictionary()
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection | None]] = collections.deque()
        self._closing: set[asyncio.Future[Any]] = set()
        self._settling: dict[asyncio.Future[None], asyncpg.Connection] = {}
        self._closed = False
        self._waits_on_the_protocol = _waits_on_the_protocol()

    def get_size(self) -> int:
        """The connections open or opening."""
        return self._opened

    async def acquire(self) -> asyncpg.Connection:
        """An idle connection, a new one while fewer than `size` are open, else the next one released."""
        if self._closed:
            raise closed_error()
        while self._idle:
            connection = self._idle.pop()[0]
            if not connection.is_closed():
                return connection
            self._opened -= 1  # dropped while idle
        if self._opened >= self._size:
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter  # or the error of `close`
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # handed over as this read was cancelled: pass it on
                    if (connection := waiter.result()) is not None:
                        self.release(connection)
                    else:
                        self._free_place()
                elif waiter in self._waiters:  # else a release has passed over it already
                    self._waiters.remove(waiter)
                raise
            if handed is not None:
                return handed
            # handed None: the place of a connection that is gone, counted already for this read
            if self._closed:  # closed since: the place is given back, nothing opened
                self._free_place()
                raise closed_error()
        else:
            self._opened += 1
        try:
            connection = await self._connect()
        except BaseException:
            self._free_place()
            raise
        self._opened_at[connection] = time.monotonic()
        return connection

    def release(self, connection: asyncpg.Connection, *, reusable: bool = True) -> None:
        """Back to the idle ones (or to a read waiting for one); terminated if it is not `reusable`."""
        if not reusable or self._closed or connection.is_closed():
            connection.terminate()
            self._free_place()
            return
        now = time.monotonic()
        if now - self._opened_at.get(connection, now) > self.MAX_AGE_SECONDS:
            self._close_later(connection)
            self._free_place()
            return
        if self._hand(connection):
            return
        self._idle.append((connection, now))
        if now - self._idle[0][1] > self.IDLE_SECONDS:
            oldest = self._idle.pop(0)[0]
            self._opened -= 1
            self._close_later(oldest)

    def settle(self, connection: asyncpg.Connection) -> None:
        """Released once the server has acknowledged the cancel of its statement (asyncpg sends it), within
        CANCEL_SECONDS, else terminated; counted until then, so no connection is opened beside it meanwhile."""
        settling = asyncio.ensure_future(self._settle(connection))
        self._settling[settling] = connection
        settling.add_done_callback(self._settled)

    async def _settle(self, connection: asyncpg.Connection) -> None:
        reusable = False
        try:
            if self._waits_on_the_protocol:
                await connection._protocol._wait_for_cancellation(self.CANCEL_SECONDS)
            else:  # asyncpg starts no statement before the cancel is acknowledged, nor waits past its timeout
                await connection.execute("SELECT 1", timeout=self.CANCEL_SECONDS)
            reusable = not connection.is_in_transaction()
        except Exception:  # noqa: BLE001 - not acknowledged in time: asyncpg has terminated it
            reusable = False
        finally:
            self.release(connection, reusable=reusable)

    def _settled(self, settling: asyncio.Future[None]) -> None:
        self._settling.pop(settling, None)

    def _hand(self, connection: asyncpg.Connection | None) -> bool:
        """Whether a read was waiting, and was handed `connection` (None: a place to open one in)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _free_place(self) -> None:
        """A connection is gone (or never opened): the first read waiting opens one in its place."""
        if not self._hand(None):
            self._opened -= 1

    def _close_later(self, connection: asyncpg.Connection) -> None:
        closing = asyncio.ensure_future(connection.close(timeout=2.0))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def _fail_waiters(self) -> None:
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(closed_error())

    async def close(self) -> None:
        """Closes the idle connections and fails the reads waiting; one in use is closed when it is released,
        one settling once the server has acknowledged its cancel (awaited here)."""
        self._closed = True
        self._fail_waiters()
        idle, self._idle = self._idle, []
        self._opened -= len(idle)
        for connection, _ in idle:
            self._close_later(connection)
        if self._closing or self._settling:
            await asyncio.gather(*self._closing, *self._settling, return_exceptions=True)

    def terminate(self) -> None:
        self._closed = True
        self._fail_waiters()
        for connection, _ in self._idle:
            connection.terminate()
        self._opened -= len(self._idle)
        self._idle = []
        for connection in self._settling.values():
            connection.terminate()  # its settling task then gives its place back


def closed_error() -> asyncpg.exceptions.InterfaceError:
    return asyncpg.exceptions.InterfaceError("the read connections are closed")
