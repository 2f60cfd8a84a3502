"""The fetcher hands a lone message over at once and drains ready messages in batches."""

from __future__ import annotations

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from slm_shared.bus import Bus
from slm_shared.bus.fetch import Fetcher


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
