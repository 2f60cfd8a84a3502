"""Agreements stop within a bound, with jobs, relay and consumer busy and NATS up, gone or frozen."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from slm_agreements.config import Settings
from slm_agreements.main import build_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.ports import free_port
from slm_shared.testing.proxy import FreezableProxy
from slm_shared.testing.shutdown import CONDITIONS, assert_stops_in_bound, settings_for


async def parties_to_relay(client: httpx.AsyncClient, _nats_url: str) -> None:
    for n in range(20):
        created = await client.post("/v1/parties", json={"name": f"Customer {n}", "kind": "customer"})
        assert created.status_code == 201, created.text


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_shutdown_is_bounded(
    condition: str, tmp_path: Path, private_nats: NatsServer, nats_proxy: FreezableProxy
) -> None:
    settings = settings_for(
        Settings,
        name="agreements",
        tmp_path=tmp_path,
        proxy=nats_proxy,
        catalog_url=f"http://127.0.0.1:{free_port()}",  # nobody there: catalog look-ups keep failing
        jobs_interval_seconds=0.05,
    )
    await assert_stops_in_bound(
        build_app(settings),
        condition=condition,
        nats_server=private_nats,
        proxy=nats_proxy,
        make_busy=parties_to_relay,
    )
