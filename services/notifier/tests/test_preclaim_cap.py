"""Two transactions that pre-claim fresh deliveries at once (PostgreSQL) do not start more attempts than the
worker's in-flight limit: what is past it is released and sent once a slot frees."""

from __future__ import annotations

import asyncio

from receivers import Receiver
from test_fresh_claims import breach, running_worker, subscribe

from slm_notifier.service import fan_out


async def test_two_transactions_preclaiming_at_once_keep_the_in_flight_limit(postgres_url: str, tenant: str) -> None:
    async with (
        Receiver(delay=1.0) as receiver,
        running_worker(postgres_url, max_concurrency=2, max_per_subscription=10) as db,
    ):
        await subscribe(db, tenant, receiver.url())
        async with db.session() as first, db.session() as second:
            for n in range(2):  # each sees no attempt in flight and nothing reserved: each claims two
                await fan_out(first, *breach(tenant, n))
                await fan_out(second, *breach(tenant, 10 + n))
            await first.commit()
            await second.commit()

        await receiver.wait_for(2)
        await asyncio.sleep(0.6)
        assert len(receiver.requests) == 2  # the limit holds: two in flight, the other two released
        await receiver.wait_for(4, timeout=10)
        first_two, last_two = sorted(r.at for r in receiver.requests[:2]), sorted(r.at for r in receiver.requests[2:])
        assert min(last_two) - max(first_two) >= 0.9  # sent only once the first two were answered
