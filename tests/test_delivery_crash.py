"""A notifier SIGKILLed mid-delivery: nothing is lost, answered webhooks are stored before anything else,
and what was in flight is sent again within the claim lease, with the same webhook-id."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from slm_shared.auth import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.testing.breaches import breach_events, publish_events
from tools.devstack import Stack
from tools.receiver import WebhookReceiver

pytestmark = pytest.mark.timeout(180)

EVENTS_SENT = 40
LEASE_SECONDS = 3
MAX_PER_SUBSCRIPTION = 4  # the notifier's default NOTIFIER_MAX_PER_SUBSCRIPTION


async def unfinished_deliveries(database_url: str) -> set[str]:
    """Ids (webhook-ids) of the deliveries the notifier's database holds no finished attempt for."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id FROM deliveries WHERE status = 'pending'"))
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def publish_breaches(nats_url: str, options: dict[str, str]) -> None:
    connection = await nats.connect(nats_url, **options)
    await publish_events(connection.jetstream(), breach_events("crash", EVENTS_SENT), pipelined=False)
    await connection.close()


def test_notifier_sigkill_mid_delivery_resends_only_what_was_in_flight(tmp_path: Path, database_url: str) -> None:
    receiver = WebhookReceiver(delay_seconds=0.1).start()  # 40 webhooks over about a second, 4 at a time
    # default settings but the lease: the restarted worker's first look finds the dead one's claims and takes them
    # when their lease ends, not on a later poll
    env = {"SLM_ENVIRONMENT": "test", "NOTIFIER_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS)}
    stack = Stack.on_free_ports(tmp_path / "stack", extra_env=env, database_urls={"notifier": database_url})
    try:
        stack.start_nats()
        stack.start_service("notifier")
        admin = issue_token(DEVELOPMENT_JWT_SECRET, tenant="crash", roles=["admin"])
        subscription = {
            "name": "crash",
            "event_types": ["slm.measurement.objective.*"],
            "channel": "webhook",
            "target": {"url": receiver.url},
        }
        created = httpx.post(
            f"{stack.url('notifier')}/v1/subscriptions",
            json=subscription,
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert created.status_code == 201, created.text
        asyncio.run(publish_breaches(stack.nats_url, stack.nats_options()))

        receiver.wait_for(12, timeout=60)
        stack.kill_service("notifier")
        with receiver.arrived:
            answered_before_kill = set(receiver.answered)
            received_before_kill = len(receiver.received)
        assert 0 < len(answered_before_kill) < EVENTS_SENT

        with receiver.arrived:
            seen_before_kill = {r.headers.get("webhook-id") for r in receiver.received}
        # What the dead notifier had sent but not stored a result for: its attempts in flight at the kill.
        unstored_at_kill = seen_before_kill & asyncio.run(unfinished_deliveries(database_url))
        assert len(unstored_at_kill) <= MAX_PER_SUBSCRIPTION
        stack.start_service("notifier")
        restarted = time.monotonic()  # ready again
        last_resent_at = restarted
        resent_so_far = 0
        deadline = restarted + 75  # events fetched but not yet applied come back after JetStream's ack wait (30 s)
        while time.monotonic() < deadline:
            with receiver.arrived:
                later = [r.headers.get("webhook-id") for r in receiver.received[received_before_kill:]]
            if len([i for i in later if i in seen_before_kill]) > resent_so_far:
                resent_so_far = len([i for i in later if i in seen_before_kill])
                last_resent_at = time.monotonic()
            if len(seen_before_kill | set(later)) == EVENTS_SENT:
                break
            time.sleep(0.05)
        time.sleep(LEASE_SECONDS + 2)  # anything still to be re-sent would come by now

        with receiver.arrived:
            received = list(receiver.received)
        ids = Counter(r.headers.get("webhook-id") for r in received)
        assert len(ids) == EVENTS_SENT  # nothing lost
        after_kill = [r.headers.get("webhook-id") for r in received[received_before_kill:]]
        resent = {webhook_id for webhook_id in after_kill if webhook_id in seen_before_kill}
        resent_answered = resent & answered_before_kill
        print(
            f"answered before kill {len(answered_before_kill)}, re-sent {len(resent)}, "
            f"re-sent although answered {len(resent_answered)}, in flight at the kill {len(unstored_at_kill)}, "
            f"last re-send {last_resent_at - restarted:.1f} s after the restart"
        )
        # Only what was in flight at the kill comes again (at most 4 at a time to one subscription):
        # a delivery whose result was stored is never sent again, and an answer the notifier had read
        # is stored before it claims or sends anything else (a claim round waits for the recorder, and so
        # does a fresh delivery committed while an answer is being written), so the answered webhooks sent
        # twice are at most the attempts in flight at the kill.
        assert resent <= unstored_at_kill
        assert len(resent_answered) <= len(unstored_at_kill) <= MAX_PER_SUBSCRIPTION
        assert max(ids.values()) <= 2
        assert last_resent_at - restarted < LEASE_SECONDS + 5  # after the short claim lease, not 50 s
    finally:
        stack.stop()
        receiver.stop()
