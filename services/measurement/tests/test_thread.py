"""The platform thread: an activation on NATS, ingestion, and exactly one breach and one recovery."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.errors
from measurement_support import activation, ended, eventually, points, stream_messages
from pydantic import BaseModel

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_shared.contracts import EVENTS
from slm_shared.contracts.envelope import EventSpec
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

BREACHED = "slm.measurement.objective.breached"
RECOVERED = "slm.measurement.objective.recovered"


async def publish(js: nats.js.JetStreamContext, spec: EventSpec, data: BaseModel, tenant: str = "acme") -> None:
    """Publish an event the way a producer's outbox relay does, retrying until its stream exists."""
    event = spec.build(tenant=tenant, data=data)
    for _ in range(100):
        try:
            await js.publish(
                spec.subject, json.dumps(event.data).encode(), headers={**event.headers(), "Nats-Msg-Id": event.id}
            )
            return
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            await asyncio.sleep(0.1)
    raise AssertionError(f"stream for {spec.subject} never appeared")


async def test_activation_breach_and_recovery_are_reported_once(database_url: str, nats_server: NatsServer) -> None:
    settings = Settings(
        database_url=database_url,
        **nats_server.service_login("measurement"),
        environment="test",
        evaluation_interval_seconds=0.2,
        outbox_poll_seconds=0.2,
    )
    agreement = activation(service_key=f"svc-{time.monotonic_ns()}")
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with running_app(build_app(settings), token=make_token("acme")) as client:
            await publish(js, EVENTS.agreement_activated_v2, agreement)

            async def objective() -> dict | None:
                listed = (await client.get("/v1/objectives", params={"agreement_id": agreement.agreement_id})).json()
                return listed["items"][0] if listed["total"] == 1 else None

            found = await eventually(objective)
            assert found["window"] == {"kind": "rolling", "duration": "1d", "unit": None, "timezone": "UTC"}
            url = f"/v1/objectives/{found['id']}"
            await eventually(lambda: _status(client, url, "no_data"))

            ingested = await client.post("/v1/measurements", json=points(agreement.service_key, 50, 100))
            assert ingested.status_code == 202, ingested.text
            breached = await eventually(lambda: _status(client, url, "breached"), timeout=15)
            assert breached["attainment"] == 0.5 and breached["good"] == 50 and breached["total"] == 100
            assert abs(breached["budget"]["total"] - 0.01) < 1e-9 and abs(breached["budget"]["consumed"] - 0.5) < 1e-9

            for _ in range(3):
                forced = await client.post(f"{url}/evaluate")
                assert forced.status_code == 200 and forced.json()["status"] == "breached"
            await asyncio.sleep(1.0)  # several periodic evaluations
            messages = await eventually(lambda: stream_messages(js, BREACHED, agreement.agreement_id))
            assert len(messages) == 1
            data = json.loads(messages[0].data)
            assert data["status"] == "breached" and data["previous_status"] == "no_data"
            assert messages[0].headers["ce-type"] == "slm.measurement.objective.breached.v1"

        # A restarted service has its state in the database: no second breach.
        async with running_app(build_app(settings), token=make_token("acme")) as client:
            assert (await client.post(f"{url}/evaluate")).json()["status"] == "breached"
            await asyncio.sleep(0.6)
            assert len(await stream_messages(js, BREACHED, agreement.agreement_id)) == 1

            good = await client.post("/v1/measurements", json=points(agreement.service_key, 1_000_000, 1_000_000))
            assert good.status_code == 202
            await eventually(lambda: _status(client, url, "recovered"), timeout=3)
            await asyncio.sleep(0.6)
            assert (await client.post(f"{url}/evaluate")).json()["status"] == "healthy"
            recovered = await eventually(lambda: stream_messages(js, RECOVERED, agreement.agreement_id))
            assert len(recovered) == 1 and json.loads(recovered[0].data)["previous_status"] == "breached"
            assert len(await stream_messages(js, BREACHED, agreement.agreement_id)) == 1

            await publish(js, EVENTS.agreement_ended, ended(agreement.agreement_id, 1))
            await eventually(lambda: _inactive(client, url))
    finally:
        await nc.close()


async def _status(client, url: str, status: str) -> dict | None:  # type: ignore[no-untyped-def]
    body = (await client.get(url)).json()
    return body if body["status"] == status else None


async def _inactive(client, url: str) -> bool:  # type: ignore[no-untyped-def]
    return (await client.get(url)).json()["active"] is False
