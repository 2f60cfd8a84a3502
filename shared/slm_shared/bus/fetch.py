"""Pull fetches that hand a message over as soon as it arrives, and take batches while messages flow."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.msg import Msg
from nats.js import JetStreamContext

# An idle pull lingers this long on the server (one request and one timeout answer each): a message still
# comes at once, a shorter wait only costs wake-ups.
IDLE_WAIT_SECONDS = 5.0
BUSY_WAIT_SECONDS = 0.01


class Fetcher:
    """Fetches from one pull subscription: a single lingering pull while idle, batches while busy.

    nats-py's `fetch(n)` with n > 1 waits for all n messages (or the timeout) once the first has
    arrived, so an idle `fetch(50, timeout=5.0)` holds a lone message for up to the timeout. `fetch(1)`
    returns on arrival; after one message, short batch fetches drain whatever else is ready.
    """

    def __init__(self, subscription: JetStreamContext.PullSubscription, batch: int) -> None:
        self.subscription = subscription
        self.batch = batch
        self.busy = False

    async def fetch(self) -> list[Msg]:
        """The next messages; raises TimeoutError when none came (as `fetch` does)."""
        try:
            if self.busy and self.batch > 1:
                messages = await self.subscription.fetch(self.batch, timeout=BUSY_WAIT_SECONDS)
            else:
                messages = await self.subscription.fetch(1, timeout=IDLE_WAIT_SECONDS)
        except TimeoutError:
            self.busy = False
            raise
        self.busy = bool(messages)
        return messages


async def unsubscribe_quietly(subscription: JetStreamContext.PullSubscription, *, within: float = 1.0) -> None:
    """Unsubscribe on shutdown without waiting on a slow or absent server (a pull subscription never drains)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within):
            await subscription.unsubscribe()
