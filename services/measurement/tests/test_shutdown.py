"""Measurement stops within a bound while ingesting over REST and NATS and evaluating, NATS up, gone or frozen."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.proxy import FreezableProxy
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.testing.shutdown import (
    CONDITIONS,
    TENANT,
    assert_stops_in_bound,
    publish_retrying,
    settings_for,
)


async def ingest_over_rest_and_nats(client: httpx.AsyncClient, nats_url: str) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    points = [
        {
            "service": "payments",
            "indicator": "availability",
            "timestamp": (start + timedelta(minutes=m)).isoformat(),
            "good": 90,
            "total": 100,
        }
        for m in range(120)
    ]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        headers = {"Authorization": f"Bearer {make_token(TENANT, ('ingest',))}"}
        for n in range(20):
            await publish_retrying(js, f"slm.ingest.{TENANT}.load{n}", json.dumps(points[:30]).encode(), headers)
    finally:
        await nc.close()


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_shutdown_is_bounded(
    condition: str, tmp_path: Path, private_nats: NatsServer, nats_proxy: FreezableProxy
) -> None:
    settings = settings_for(
        Settings,
        name="measurement",
        tmp_path=tmp_path,
        proxy=nats_proxy,
    )
    await assert_stops_in_bound(
        build_app(settings),
        condition=condition,
        nats_server=private_nats,
        proxy=nats_proxy,
        make_busy=ingest_over_rest_and_nats,
    )
