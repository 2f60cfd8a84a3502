"""The evaluation worker wakes when an ingest that flagged objectives commits, not on its next poll."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import nats.errors
import nats.js.errors
from measurement_support import activation, eventually
from sqlalchemy import func, select
from sqlmodel import col
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement import read_model, service
from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import Objective, PendingActivation
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

POLL_SECONDS = 30.0  # far longer than the bound below: only the wake-up on commit can meet it
WITHIN_SECONDS = 5.0
INGEST = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}


def breaching(key: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return [
        {"service": key, "indicator": "availability", "timestamp": (now - timedelta(minutes=i)).isoformat(),
         "good": 950, "total": 1000}
        for i in range(1, 6)
    ]  # fmt: skip


async def agreement_on(db: Database, key: str, **extra: Any) -> str:
    """Activate a 99.9% availability SLA on `key` (flagged for evaluation, but nothing wakes the worker)."""
    agreement_id = str(uuid.uuid4())
    objective = {"objective_id": "o", "indicator": "availability", "target": 0.999,
                 "window": {"kind": "rolling", "duration": "30d"}}  # fmt: skip
    since = datetime.now(UTC) - timedelta(days=1)
    agreement = ticket_agreement(
        agreement_id=agreement_id, service_key=key, party="p", ticket_targets=[], objectives=[objective],
        effective_from=since, **extra,
    )  # fmt: skip
    await activate(db, agreement)
    return agreement_id


async def evaluated_at(db: Database, agreement_id: str) -> datetime | None:
    """When the agreement's objective was last evaluated (None: not yet)."""
    async with db.sessionmaker() as session:
        return await session.scalar(
            select(col(Objective.evaluated_at)).where(col(Objective.agreement_id) == agreement_id)
        )


async def test_a_breaching_ingest_records_its_breach_long_before_the_next_poll(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(
        database_url=database_url,
        **nats_server.service_login("measurement"),
        environment="test",
        evaluation_poll_seconds=POLL_SECONDS,
        evaluation_interval_seconds=3600.0,
        ingest_evaluation_limit=0,  # a REST batch leaves its objectives to the worker: its wake is what is shown
    )
    breached = EVENTS.objective_breached.type
    app = build_app(settings)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with running_app(app, token=make_token("acme")) as client:
            db: Database = app.state.db
            await asyncio.sleep(0.5)  # the worker's first pass is over: it now waits up to POLL_SECONDS
            over_http, over_nats = f"wake-http-{uuid.uuid4().hex[:8]}", f"wake-nats-{uuid.uuid4().hex[:8]}"
            http_agreement = await agreement_on(db, over_http)
            nats_agreement = await agreement_on(db, over_nats)
            await asyncio.sleep(0.5)
            assert await outbox(db, breached, agreement_id=http_agreement) == []

            # over HTTP: the request's transaction commits, the worker wakes and records the breach
            response = await client.post("/v1/measurements", json=breaching(over_http), headers=INGEST)
            assert response.status_code == 202, response.text
            found = await eventually(lambda: outbox(db, breached, agreement_id=http_agreement), timeout=WITHIN_SECONDS)
            assert [e["service_key"] for e in found] == [over_http]
            assert await outbox(db, breached, agreement_id=nats_agreement) == []  # only ingested series are flagged

            # over NATS: the consumer's transaction (inbox row and buckets) commits, the same wake-up follows
            body = json.dumps(breaching(over_nats)).encode()
            for _ in range(100):
                try:
                    await js.publish(f"slm.ingest.acme.{over_nats}", body, headers={**INGEST, "Nats-Msg-Id": over_nats})
                    break
                except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
                    await asyncio.sleep(0.1)
            found = await eventually(lambda: outbox(db, breached, agreement_id=nats_agreement), timeout=WITHIN_SECONDS)
            assert [e["service_key"] for e in found] == [over_nats]
    finally:
        await nc.close()


async def test_a_pass_stops_between_chunks_once_ingestion_flagged_more(app_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = app_client
    db: Database = app.state.db
    keys = [f"yield-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    agreements = [await agreement_on(db, key) for key in keys]

    async def unevaluated() -> int:
        async with db.sessionmaker() as session:
            found = await session.scalar(
                select(func.count()).where(
                    col(Objective.agreement_id).in_(agreements), col(Objective.evaluated_at).is_(None)
                )
            )
        return int(found or 0)

    flagged = asyncio.Event()
    flagged.set()  # as the after-commit hook does when an ingest flags objectives
    hour = timedelta(hours=1)
    assert await service.evaluate_due(db, interval=hour, limit=10, chunk=1, yield_to=flagged) == 1
    assert await unevaluated() == 2  # the rest stay due, for the pass that follows
    assert await service.evaluate_due(db, interval=hour, limit=10, chunk=1, yield_to=asyncio.Event()) == 2
    assert await unevaluated() == 0


async def test_an_objective_is_evaluated_again_when_it_falls_due_not_on_the_next_poll(
    database_url: str, nats_server: NatsServer
) -> None:
    interval = 2.0
    settings = Settings(
        database_url=database_url,
        **nats_server.service_login("measurement"),
        environment="test",
        evaluation_poll_seconds=POLL_SECONDS,  # the sleep's bound: only the next due time read can meet the bound
        evaluation_interval_seconds=interval,
        ingest_evaluation_limit=0,
    )
    app = build_app(settings)

    async with running_app(app, token=make_token("acme")) as client:
        db: Database = app.state.db
        await asyncio.sleep(0.5)  # the worker's first pass is over: it now waits up to POLL_SECONDS
        key = f"due-{uuid.uuid4().hex[:8]}"
        agreement_id = await agreement_on(db, key)
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
        assert response.status_code == 202, response.text
        first = await eventually(lambda: evaluated_at(db, agreement_id), timeout=WITHIN_SECONDS)

        async def again() -> datetime | None:
            found = await evaluated_at(db, agreement_id)
            return found if found is not None and found > first else None

        second = await eventually(again, timeout=interval + WITHIN_SECONDS)
        assert second - first >= timedelta(seconds=interval)  # when it fell due, never before


async def test_recording_and_withdrawing_an_observation_wake_the_worker_not_its_next_poll(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(
        database_url=database_url,
        **nats_server.service_login("measurement"),
        environment="test",
        evaluation_poll_seconds=POLL_SECONDS,  # only the wake-up on commit can meet the bound below
        evaluation_interval_seconds=3600.0,
    )
    app = build_app(settings)
    customer = {"Authorization": f"Bearer {make_token('acme', ('customer',), party='p')}"}

    async with running_app(app, token=make_token("acme")) as client:
        db: Database = app.state.db
        key = f"observed-{uuid.uuid4().hex[:8]}"
        # flagged, and nothing woke the worker; an observation counts as bad time
        agreement_id = await agreement_on(db, key, observation_terms={"counts_as": "bad_time"})
        await asyncio.sleep(0.5)  # the worker's first pass is over (it may have seen the objective): now it waits
        before = await evaluated_at(db, agreement_id)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        created = await client.post(
            f"/v1/agreements/{agreement_id}/observations",
            json={"summary": "down", "start": (now - timedelta(minutes=10)).isoformat(), "end": now.isoformat()},
            headers=customer,
        )
        assert created.status_code == 201, created.text

        async def after(earlier: datetime | None) -> datetime | None:
            found = await evaluated_at(db, agreement_id)
            return found if found is not None and (earlier is None or found > earlier) else None

        recorded = await eventually(lambda: after(before), timeout=WITHIN_SECONDS)
        withdrawn = await client.post(f"/v1/observations/{created.json()['id']}/withdraw", headers=customer)
        assert withdrawn.status_code == 200, withdrawn.text
        await eventually(lambda: after(recorded), timeout=WITHIN_SECONDS)


async def test_a_version_stored_for_later_takes_effect_when_due_not_on_the_next_check(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(
        database_url=database_url,
        **nats_server.service_login("measurement"),
        environment="test",
        evaluation_poll_seconds=POLL_SECONDS,  # neither the poll nor the versions step's interval meets the bound
        version_check_seconds=POLL_SECONDS,
    )
    app = build_app(settings)
    first = activation(service_key=f"later-{uuid.uuid4().hex[:8]}")

    async def pending() -> int:
        async with db.sessionmaker() as session:
            found = await session.scalar(
                select(func.count()).where(col(PendingActivation.agreement_id) == first.agreement_id)
            )
            return int(found or 0)

    async with running_app(app, token=make_token("acme")):
        db: Database = app.state.db
        async with db.session() as session:
            await read_model.apply_activation(session, tenant="acme", agreement=first)
        await asyncio.sleep(0.5)  # the worker's first pass (and its versions step) is over: now it waits
        takes_effect = datetime.now(UTC) + timedelta(seconds=1.5)
        later = first.model_copy(update={"version": 2, "effective_from": takes_effect})
        async with db.session() as session:
            await read_model.apply_activation(session, tenant="acme", agreement=later)
        assert await pending() == 1
        await eventually(lambda: _none_left(pending), timeout=1.5 + WITHIN_SECONDS)
        assert datetime.now(UTC) >= takes_effect


async def _none_left(count: Callable[[], Awaitable[int]]) -> bool | None:
    return True if await count() == 0 else None
