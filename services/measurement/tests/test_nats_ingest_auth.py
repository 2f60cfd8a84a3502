"""NATS ingest with the platform's NATS users: the tenant is the one the publisher's credentials allow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from measurement_support import eventually
from sqlalchemy import func, select

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import MinuteBucket
from slm_shared.bus import Bus
from slm_shared.bus.auth import NatsAuth
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture
def auth() -> NatsAuth:
    return NatsAuth.generate(ingest_tenants=["acme", "globex"])


@pytest.fixture
def secured_nats(tmp_path: Path, auth: NatsAuth) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "secured-nats", auth=auth, sync_always=False).start()
    yield server
    server.kill()


def batch(good: int) -> bytes:
    stamp = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    return json.dumps([{"service": "payments", "indicator": "availability", "timestamp": stamp, "good": good,
                        "total": 10}]).encode()  # fmt: skip


async def totals(db: Database, tenant: str) -> float | None:
    async with db.sessionmaker() as session:
        return await session.scalar(
            select(func.sum(MinuteBucket.good)).where(MinuteBucket.tenant == tenant, MinuteBucket.service == "payments")
        )


async def test_tenant_comes_from_the_subject_and_ids_are_per_tenant(
    sqlite_url: str, secured_nats: NatsServer, auth: NatsAuth
) -> None:
    login = {"nats_user": "measurement", "nats_password": auth.users["measurement"].password}
    provision = Bus(secured_nats.url, name="provision", credentials=Settings(**login).nats_credentials)  # type: ignore[arg-type]
    await provision.connect(attempts=5)
    await provision.ensure_platform_streams()
    await provision.close()
    acme = await nats.connect(secured_nats.url, **auth.users["ingest-acme"].connect_options())
    globex = await nats.connect(secured_nats.url, **auth.users["ingest-globex"].connect_options())
    try:
        # Queued while measurement is down: no token travels with it, so nothing about it expires.
        await acme.jetstream().publish("slm.ingest.acme.payments", batch(7), headers={"Slm-Batch-Id": "b-1"})
        settings = Settings(database_url=sqlite_url, nats_url=secured_nats.url, environment="test", **login)  # type: ignore[arg-type]
        app = build_app(settings)
        async with running_app(app, token=make_token("acme")):
            db: Database = app.state.db
            assert await eventually(lambda: totals(db, "acme")) == 7
            # The same id from another tenant is another batch; from the same tenant, a duplicate.
            await globex.jetstream().publish("slm.ingest.globex", batch(3), headers={"Slm-Batch-Id": "b-1"})
            assert await eventually(lambda: totals(db, "globex")) == 3
            await asyncio.sleep(0.2)  # past JetStream's own 100 ms window for Nats-Msg-Id
            await globex.jetstream().publish("slm.ingest.globex.x", batch(2), headers={"Nats-Msg-Id": "b-1"})
            assert await eventually(lambda: totals(db, "globex")) == 3  # globex's b-1 again: applied once
            await globex.jetstream().publish("slm.ingest.globex.x", batch(2), headers={"Nats-Msg-Id": "b-2"})
            assert await eventually(lambda: _equals(db, "globex", 5))
            await acme.jetstream().publish("slm.ingest.acme.payments", batch(7), headers={"Slm-Batch-Id": "b-1"})
            # acme cannot write into globex's series, whatever its headers say
            with pytest.raises(nats.errors.Error):
                await acme.jetstream(timeout=1).publish("slm.ingest.globex", batch(9), headers={"ce-tenant": "globex"})
            await acme.jetstream().publish("slm.ingest.acme.payments", batch(1), headers={"Slm-Batch-Id": "b-3"})
            assert await eventually(lambda: _equals(db, "acme", 8))
            assert await totals(db, "globex") == 5
            assert app.state.context.extras["nats_ingestor"].applied == 4
    finally:
        await acme.close()
        await globex.close()


async def _equals(db: Database, tenant: str, expected: float) -> bool:
    return await totals(db, tenant) == expected
