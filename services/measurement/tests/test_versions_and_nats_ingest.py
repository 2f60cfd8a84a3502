"""Agreement versions that take effect later, expiry, and high-volume ingestion from NATS."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import nats
from measurement_support import activation, eventually
from sqlalchemy import func, select
from sqlmodel import col

from slm_measurement import read_model, service
from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import MinuteBucket, Objective
from slm_shared.bus import DeadLetter
from slm_shared.contracts.payloads import AgreementEndedV1
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


async def objectives(db: Database, agreement_id: str) -> list[Objective]:
    async with db.sessionmaker() as session:
        return list((await session.scalars(select(Objective).where(Objective.agreement_id == agreement_id))).all())


async def test_amended_version_applies_from_its_effective_instant_and_expiry_stops_evaluation(app_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = app_client
    db: Database = app.state.db
    first = activation(service_key="amend")
    async with db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=first)
    later = datetime.now(UTC) + timedelta(seconds=1)
    amended = first.model_copy(update={"version": 2, "effective_from": later})
    amended.objectives[0] = amended.objectives[0].model_copy(update={"target": 0.5})
    async with db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=amended)
        await read_model.apply_end(
            session,
            tenant="acme",
            ended=AgreementEndedV1(agreement_id=first.agreement_id, version=1, reason="superseded"),
        )
    [row] = await objectives(db, first.agreement_id)
    assert (row.agreement_version, row.target, row.active) == (1, 0.99, True)
    await asyncio.sleep(1.1)
    await service.apply_due_versions(db)
    [row] = await objectives(db, first.agreement_id)
    assert (row.agreement_version, row.target, row.active) == (2, 0.5, True)

    ending = first.model_copy(
        update={"agreement_id": "expiring", "effective_to": datetime.now(UTC) + timedelta(seconds=1)}
    )
    async with db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=ending)
    assert (await objectives(db, "expiring"))[0].active
    await asyncio.sleep(1.1)
    await service.apply_due_versions(db)
    [row] = await objectives(db, "expiring")
    assert not row.active and row.ended
    await service.apply_due_versions(db)
    assert not (await objectives(db, "expiring"))[0].active

    async with db.session() as session:
        await read_model.apply_end(
            session, tenant="acme", ended=AgreementEndedV1(agreement_id=first.agreement_id, version=2, reason="expired")
        )
    [row] = await objectives(db, first.agreement_id)
    assert not row.active and row.ended


async def test_nats_ingest_is_applied_once_and_refusals_are_dead_lettered(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(database_url=database_url, **nats_server.service_login("measurement"), environment="test")
    service_key = f"nats-{time.monotonic_ns()}"
    stamp = (datetime.now(UTC) - timedelta(minutes=2)).timestamp()
    body = json.dumps(
        {
            "series": [
                {
                    "service": service_key,
                    "indicator": "availability",
                    "timestamps": [stamp] * 3,
                    "good": [1, 2, 3],
                    "total": [2, 2, 4],
                }
            ]
        }
    ).encode()
    token = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    app = build_app(settings)
    try:
        async with running_app(app, token=make_token("acme")):
            db: Database = app.state.db

            async def stored() -> tuple[float, float] | None:
                async with db.sessionmaker() as session:
                    row = (
                        await session.execute(
                            select(func.sum(MinuteBucket.good), func.sum(MinuteBucket.total)).where(
                                MinuteBucket.service == service_key
                            )
                        )
                    ).one()
                return (row[0], row[1]) if row[0] is not None else None

            async def publish(
                data: bytes, headers: dict[str, str], subject: str = f"slm.ingest.acme.{service_key}"
            ) -> None:
                for _ in range(100):
                    try:
                        await js.publish(subject, data, headers=headers)
                        return
                    except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
                        await asyncio.sleep(0.1)

            await publish(body, {**token, "Nats-Msg-Id": f"{service_key}-1"})
            assert await eventually(stored) == (6, 8)
            await publish(body, {**token, "Nats-Msg-Id": f"{service_key}-1"})
            ingestor = app.state.context.extras["nats_ingestor"]
            await asyncio.sleep(1.5)
            assert await stored() == (6, 8)
            applied = ingestor.applied

            await publish(body, {"Nats-Msg-Id": f"{service_key}-2"}, f"slm.ingest.acme+x.{service_key}")  # no tenant
            bad = body.replace(b'"good": [1, 2, 3]', b'"good": [1, 9, 3]')
            await publish(bad, {**token, "Nats-Msg-Id": f"{service_key}-3"})

            async def dead_letters() -> list[DeadLetter] | None:
                async with db.sessionmaker() as session:
                    rows = (
                        await session.scalars(
                            select(DeadLetter).where(col(DeadLetter.subject).endswith(f".{service_key}"))
                        )
                    ).all()
                return list(rows) if len(rows) == 2 else None

            letters = sorted(await eventually(dead_letters), key=lambda d: d.event_id or "")
            assert letters[0].error.startswith("422") and "names no tenant" in letters[0].error
            assert letters[0].tenant is None and "authorization" not in {k.lower() for k in letters[0].headers}
            assert letters[1].error.startswith("422") and "series[0].good[1]" in letters[1].error
            assert letters[1].tenant == "acme"
            assert await stored() == (6, 8) and ingestor.applied == applied
    finally:
        await nc.close()
