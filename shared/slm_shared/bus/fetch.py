"""Pull fetches that hand a message over as soon as it arrives, and take batches while messages flow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext

# An idle pull lingers this long on the server (one request and one timeout answer each): a message comes at
# once, and a shorter wait only costs wake-ups. A reconnect loses the pull on the server's side (a restart, a
# dropped connection): the fetcher then pulls again at once rather than wait out this timeout.
IDLE_WAIT_SECONDS = 5.0
BUSY_WAIT_SECONDS = 0.01
# A pull cancelled on shutdown or reconnect is cancelled again this often until it has ended, for at most END_SECONDS
# (well inside the consumers' stop grace, 2 s at the least, so that a stop still ends in its bound).
RECANCEL_SECONDS = 0.05
END_SECONDS = 1.0


class Fetcher:
    """Fetches from one pull subscription: a single lingering pull while idle, batches while busy.

    nats-py's `fetch(n)` with n > 1 waits for all n messages (or the timeout) once the first has
    arrived, so an idle `fetch(50, timeout=5.0)` holds a lone message for up to the timeout. `fetch(1)`
    returns on arrival; after one message, short batch fetches drain whatever else is ready.

    `reconnected` gives the event the connection sets at its next reconnect (`Bus.next_reconnect`): a
    lingering pull is issued again when it fires, as the one before went with the old connection.
    """

    def __init__(
        self,
        subscription: JetStreamContext.PullSubscription,
        batch: int,
        *,
        reconnected: Callable[[], asyncio.Event] | None = None,
    ) -> None:
        self.subscription = subscription
        self.batch = batch
        self.busy = False
        self.reconnected = reconnected
        self.pulls_after_reconnect = 0

    async def fetch(self) -> list[Msg]:
        """The next messages; raises TimeoutError when none came (as `fetch` does)."""
        try:
            if self.busy and self.batch > 1:
                messages = await self.subscription.fetch(self.batch, timeout=BUSY_WAIT_SECONDS)
            else:
                messages = await self._linger()
        except TimeoutError:
            self.busy = False
            raise
        self.busy = bool(messages)
        return messages

    async def _linger(self) -> list[Msg]:
        """One lingering pull for one message, pulled again on each reconnect while it waits."""
        if self.reconnected is None:
            return await self.subscription.fetch(1, timeout=IDLE_WAIT_SECONDS)
        while True:
            reconnect = self.reconnected()
            fetching = asyncio.ensure_future(self.subscription.fetch(1, timeout=IDLE_WAIT_SECONDS))
            fetching.add_done_callback(_retrieve)
            waiting = asyncio.ensure_future(reconnect.wait())
            try:
                await asyncio.wait({fetching, waiting}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                if not fetching.done():  # a message it took normally stays queued for the next pull (nats-py's queue)
                    await _end(fetching)
            if not fetching.done():  # a pull that would not end (left to its own timeout): as a timeout
                raise TimeoutError
            if not fetching.cancelled():
                return fetching.result()  # a message, or the timeout (also when it came as the reconnect did)
            self.pulls_after_reconnect += 1


async def _end(fetching: asyncio.Future[list[Msg]]) -> None:
    """Cancel a pull and wait until it has ended, so that no pull outlives its fetcher.

    nats-py can swallow a cancellation between the steps of a fetch: its flush of pending writes does
    (`except asyncio.CancelledError: pass`) when it has to wait, with more than its pending limit unsent or
    its flusher stuck on a frozen connection; the fetch then lingers for its whole timeout. It is cancelled
    again every `RECANCEL_SECONDS`, up to `END_SECONDS`. A cancellation of this task meanwhile (a shutdown
    cancelling again) is raised once the pull has ended; a pull still running at the bound is left to its
    timeout.
    """
    cancelled = False
    loop = asyncio.get_running_loop()
    bound = loop.time() + END_SECONDS
    while not fetching.done() and loop.time() < bound:
        fetching.cancel()
        try:
            await asyncio.wait({fetching}, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _retrieve(task: asyncio.Future[list[Msg]]) -> None:
    """Mark a finished pull's exception as seen (one abandoned on shutdown is not reported)."""
    if not task.cancelled():
        task.exception()


async def unsubscribe_quietly(subscription: JetStreamContext.PullSubscription, *, within: float = 1.0) -> None:
    """Unsubscribe on shutdown without waiting on a slow or absent server (a pull subscription never drains)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within):
            await subscription.unsubscribe()
