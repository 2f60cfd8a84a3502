"""The notifier stops within a bound with deliveries in flight to a stalling receiver, NATS up, gone or frozen."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from conftest import objective_status

from slm_notifier.config import Settings
from slm_notifier.main import build_app
from slm_shared.contracts.registry import spec_for_type
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.proxy import FreezableProxy
from slm_shared.testing.shutdown import (
    CONDITIONS,
    TENANT,
    assert_stops_in_bound,
    publish_retrying,
    settings_for,
)
from tools.receiver import WebhookReceiver


@pytest.fixture
def stalling_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(delay_seconds=30).start()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_shutdown_is_bounded(
    condition: str,
    tmp_path: Path,
    private_nats: NatsServer,
    nats_proxy: FreezableProxy,
    stalling_receiver: WebhookReceiver,
) -> None:
    async def deliveries_in_flight(client: httpx.AsyncClient, nats_url: str) -> None:
        body = {
            "name": "slow",
            "event_types": ["slm.measurement.objective.*"],
            "target": {"url": stalling_receiver.url},
        }
        assert (await client.post("/v1/subscriptions", json=body)).status_code == 201
        spec = spec_for_type("slm.measurement.objective.breached.v1")
        assert spec is not None
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for n in range(8):
                event = spec.build(tenant=TENANT, data=objective_status(objective_id=f"obj-{n}"))
                headers = {**event.headers(), "Nats-Msg-Id": event.id}
                await publish_retrying(js, spec.subject, json.dumps(event.data).encode(), headers)
        finally:
            await nc.close()
        await asyncio.to_thread(stalling_receiver.wait_for, 1, 15)  # an attempt waits on the receiver

    settings = settings_for(
        Settings,
        name="notifier",
        tmp_path=tmp_path,
        proxy=nats_proxy,
        delivery_poll_seconds=0.05,
        escalation_poll_seconds=0.05,
        attempt_timeout_seconds=60,
    )
    await assert_stops_in_bound(
        build_app(settings),
        condition=condition,
        nats_server=private_nats,
        proxy=nats_proxy,
        make_busy=deliveries_in_flight,
    )
    assert stalling_receiver.received, "no delivery was in flight when the notifier stopped"
