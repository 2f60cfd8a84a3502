"""Points for a service or indicator the catalogue does not know are refused, or stored with a warning."""

from __future__ import annotations

import uuid

import nats
import pytest
from measurement_support import eventually, points
from sqlalchemy import func, select
from test_thread import publish

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import MinuteBucket
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import IndicatorChangedV1, ServiceCreatedV1
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


async def _stored(app) -> int:  # type: ignore[no-untyped-def]
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(MinuteBucket)) or 0)


async def test_unknown_services_and_indicators_are_refused_until_the_catalogue_announces_them(
    database_url: str, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEASUREMENT_UNKNOWN_SERIES")
    settings = Settings(database_url=database_url, **nats_server.service_login("measurement"), environment="test")
    assert settings.unknown_series == "refuse"
    tenant, key = f"t{uuid.uuid4().hex[:8]}", f"svc-{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(nats_server.url)
    try:
        app = build_app(settings)
        async with running_app(app, token=make_token(tenant)) as client:
            refused = await client.post("/v1/measurements", json=points(key, 99, 100))
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["errors"][0]["field"] == "[0].service" and key in refused.text
            assert await _stored(app) == 0

            await publish(
                nc.jetstream(), EVENTS.service_created, ServiceCreatedV1(service_id="s1", key=key, name="S"), tenant
            )

            async def accepted() -> bool:
                answer = await client.post("/v1/measurements", json=points(key, 99, 100))
                return answer.status_code == 202 and answer.json()["warnings"] == []

            assert await eventually(accepted, timeout=15)
            custom = [{**points(key, 1, 1)[0], "indicator": "checkout_errors"}]
            refused = await client.post("/v1/measurements", json=custom)
            assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "[0].indicator"
            announced = IndicatorChangedV1(indicator_id="i1", key="checkout_errors", name="Checkout", kind="ratio")
            await publish(nc.jetstream(), EVENTS.indicator_created, announced, tenant)
            assert await eventually(lambda: _accepts(client, custom), timeout=15)
            # Another tenant's catalogue is not this one's.
            other = await client.post(
                "/v1/measurements",
                json=points(key, 1, 1),
                headers={"Authorization": f"Bearer {make_token('someone-else')}"},
            )
            assert other.status_code == 422
    finally:
        await nc.close()


async def _accepts(client, body) -> bool:  # type: ignore[no-untyped-def]
    return (await client.post("/v1/measurements", json=body)).status_code == 202


async def test_warn_mode_stores_and_says_which_series_are_unknown(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    assert app.state.settings.unknown_series == "warn"
    answer = await client.post("/v1/measurements", json=points("nobody-knows", 5, 10))
    assert answer.status_code == 202
    assert answer.json()["warnings"] == ["[0].service: the catalogue has no service 'nobody-knows'"]
    assert await _stored(app) > 0
