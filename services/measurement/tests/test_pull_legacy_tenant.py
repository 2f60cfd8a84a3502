"""SQLite never enforced a tenant's 64 characters: a pulled series kept with a longer one, whose state's events no
consumer could be sent (`InvalidEvent`), is left out of the pull pass, and the other series are pulled (it rolled
back the whole pass, every pass, for every tenant; then, skipped but still selected first, as many such series as
the pass claims starved every other one)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from measurement_support import activation
from sqlalchemy import select, update
from sqlmodel import col

from slm_measurement import read_model
from slm_measurement.models import Objective
from slm_measurement.pull import service as pull_service
from slm_measurement.pull.models import PENDING, SOURCE_DOWN, DataSource, PulledSeries
from slm_measurement.pull.service import pull_due
from slm_shared.contracts.envelope import TENANT_MAX_LENGTH
from slm_shared.testing.ports import free_port

LEGACY = "t" * (TENANT_MAX_LENGTH + 1)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_a_series_of_a_legacy_long_tenant_is_left_out_and_the_others_pulled(
    app_client: tuple[FastAPI, httpx.AsyncClient], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = app_client
    ids = {}
    for name, service in (("legacy", "legacy-shop"), ("ordinary", "shop")):  # both sources down: a state change
        source = await client.post("/v1/datasources", json={"name": name, "url": f"http://127.0.0.1:{free_port()}"})
        assert source.status_code == 201, source.text
        agreement = activation(
            service_key=service,
            objectives=[
                {
                    "objective_id": str(uuid.uuid4()),
                    "indicator": "availability",
                    "target": 0.98,
                    "window": {"kind": "rolling", "duration": "1d"},
                }
            ],
        )
        async with app.state.db.session() as session:
            await read_model.apply_activation(session, tenant="acme", agreement=agreement)
        body = {"service": service, "indicator": "availability", "data_source": name, "step_seconds": 60,
                "good_query": "sum(up)", "total_query": "count(up)"}  # fmt: skip
        series = await client.post("/v1/pulled-series", json=body)
        assert series.status_code == 201, series.text
        ids[name] = series.json()["id"]
    async with app.state.db.session() as session:  # a tenant SQLite kept before the 64-character bound
        await session.execute(update(PulledSeries).where(col(PulledSeries.id) == ids["legacy"]).values(tenant=LEGACY))
        await session.execute(update(DataSource).where(col(DataSource.name) == "legacy").values(tenant=LEGACY))
        await session.execute(
            update(Objective).where(col(Objective.service_key) == "legacy-shop").values(tenant=LEGACY)
        )
        for name, checked_at in (
            ("legacy", datetime(2020, 1, 1, tzinfo=UTC)),
            ("ordinary", datetime(2021, 1, 1, tzinfo=UTC)),
        ):
            await session.execute(  # the legacy series sorts first in the pass's batch
                update(PulledSeries).where(col(PulledSeries.id) == ids[name]).values(checked_at=checked_at)
            )
    monkeypatch.setattr(pull_service, "PULL_BATCH", 1)  # a pass claims one series: stands for 100 legacy ones

    with caplog.at_level(logging.WARNING, logger="slm_shared.bus.outbox"):
        # raised InvalidEvent; then claimed the legacy series only, every pass
        async with httpx.AsyncClient(timeout=2.0) as http, app.state.db.session() as session:
            await pull_due(session, http, max_lateness=timedelta(days=1), first_lookback=timedelta(hours=1))

    async with app.state.db.session(read_only=True) as session:
        states = dict((await session.execute(select(PulledSeries.id, PulledSeries.state))).all())
    assert states[ids["ordinary"]] == SOURCE_DOWN
    assert states[ids["legacy"]] == PENDING  # left as it was
    assert not [r.getMessage() for r in caplog.records if "rename the tenant" in r.getMessage()]  # never selected
