"""The fetcher hands a lone message over at once, drains ready messages in batches, and pulls again on reconnect."""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
import nats.js.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from slm_shared.bus import Bus
from slm_shared.bus import fetch as fetch_module
from slm_shared.bus.fetch import Fetcher
from slm_shared.testing.nats_server import NatsServer


async def test_idle_fetch_takes_one_message_then_batches_drain_the_rest(bus: Bus) -> None:
    await bus.js.add_stream(StreamConfig(name="FETCHTEST", subjects=["fetchtest.>"]))
    await bus.js.add_consumer("FETCHTEST", ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT))
    subscription = await bus.js.pull_subscribe_bind("reader", stream="FETCHTEST")
    for n in range(3):
        await bus.js.publish("fetchtest.x", str(n).encode())
    fetcher = Fetcher(subscription, batch=50)

    first = await fetcher.fetch()
    assert [m.data for m in first] == [b"0"]
    assert fetcher.busy
    rest = await fetcher.fetch()
    assert [m.data for m in rest] == [b"1", b"2"]
    for message in first + rest:
        await message.ack()
    with pytest.raises(TimeoutError):
        await fetcher.fetch()
    assert not fetcher.busy
    await subscription.unsubscribe()


async def test_an_idle_fetch_pulls_again_at_once_when_the_connection_comes_back(
    private_nats: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pull lingering on the server goes with a restart: without a new one the message waits out the timeout.
    monkeypatch.setattr(fetch_module, "IDLE_WAIT_SECONDS", 60.0)  # past the bound below: only a new pull meets it
    bus = Bus(private_nats.url, name="test")
    await bus.connect(attempts=20)
    try:
        await bus.js.add_stream(StreamConfig(name="RECONNECT", subjects=["reconnect.>"], storage=StorageType.FILE))
        await bus.js.add_consumer("RECONNECT", ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT))
        subscription = await bus.js.pull_subscribe_bind("reader", stream="RECONNECT")
        fetcher = Fetcher(subscription, batch=50, reconnected=bus.next_reconnect)
        fetching = asyncio.create_task(fetcher.fetch())
        await asyncio.sleep(0.3)  # the pull lingers on the server
        reconnected = bus.next_reconnect()
        await asyncio.to_thread(private_nats.restart)
        await asyncio.wait_for(reconnected.wait(), timeout=20)
        for _ in range(50):  # JetStream may still be loading its streams
            try:
                await bus.js.publish("reconnect.x", b"after")
                break
            except (nats.errors.Error, nats.js.errors.Error):
                await asyncio.sleep(0.2)
        [message] = await asyncio.wait_for(fetching, timeout=15)
        assert message.data == b"after"
        assert fetcher.pulls_after_reconnect >= 1
        await message.ack()
        await subscription.unsubscribe()
    finally:
        await bus.close()


class _SwallowingPull:
    """A pull subscription whose fetch swallows its first cancellation (as nats-py's flush of pending writes can)."""

    def __init__(self) -> None:
        self.cancellations = 0
        self.started = asyncio.Event()

    async def fetch(self, batch: int, timeout: float) -> list[object]:
        self.started.set()
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            self.cancellations += 1  # swallowed: the fetch goes on to its lingering wait
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            self.cancellations += 1
            raise
        raise TimeoutError


@pytest.mark.parametrize("cancels", [1, 2])
async def test_a_pull_that_swallows_its_cancellation_is_cancelled_again_and_never_outlives_its_fetcher(
    cancels: int,
) -> None:
    """A consumer stopped (once, or again while its pull ends) leaves no pull running for its whole timeout."""
    pull = _SwallowingPull()
    fetcher = Fetcher(pull, batch=50, reconnected=asyncio.Event)  # type: ignore[arg-type]
    consuming = asyncio.create_task(fetcher.fetch())
    await pull.started.wait()
    before = asyncio.all_tasks()
    for _ in range(cancels):
        consuming.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await consuming
    assert pull.cancellations == 2  # the swallowed one, and the one that ended it
    assert not [task for task in before if not task.done() and task is not asyncio.current_task()]


async def test_a_pull_that_will_not_end_on_a_reconnect_is_left_to_its_timeout_and_read_as_one() -> None:
    """Past the bound the fetcher stops cancelling: the fetch answers as a timeout (the consumer fetches again)."""
    ended = asyncio.Event()

    class StubbornPull:
        async def fetch(self, batch: int, timeout: float) -> list[object]:
            while not ended.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await ended.wait()
            raise TimeoutError

    reconnected = asyncio.Event()
    fetcher = Fetcher(StubbornPull(), batch=50, reconnected=lambda: reconnected)  # type: ignore[arg-type]
    fetching = asyncio.create_task(fetcher.fetch())
    await asyncio.sleep(0.05)
    reconnected.set()
    try:
        with pytest.raises(TimeoutError):
            await fetching
        assert fetcher.pulls_after_reconnect == 0
    finally:
        ended.set()
