"""The catalog stops within a bound, relaying outbox rows and consuming, with NATS up, gone or frozen."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.proxy import FreezableProxy
from slm_shared.testing.shutdown import CONDITIONS, assert_stops_in_bound, settings_for


async def services_to_relay(client: httpx.AsyncClient, _nats_url: str) -> None:
    for n in range(20):
        created = await client.post("/v1/services", json={"key": f"svc-{n}", "name": f"Service {n}"})
        assert created.status_code == 201, created.text


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_shutdown_is_bounded(
    condition: str, tmp_path: Path, private_nats: NatsServer, nats_proxy: FreezableProxy
) -> None:
    settings = settings_for(
        Settings,
        name="catalog",
        tmp_path=tmp_path,
        proxy=nats_proxy,
    )
    await assert_stops_in_bound(
        build_app(settings),
        condition=condition,
        nats_server=private_nats,
        proxy=nats_proxy,
        make_busy=services_to_relay,
    )
