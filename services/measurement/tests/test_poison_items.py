"""One bad item never stops a worker: it is set aside with its reason, retried alone later, and the rest go on.

Each test plants a real poison item (a stored row the worker cannot process) beside a good one, on
SQLite and PostgreSQL, and reads the outcome over the API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from measurement_support import activation
from sqlalchemy import select, update
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement import read_model
from slm_measurement.failures import ItemFailure
from slm_measurement.models import Objective, PendingActivation
from slm_measurement.reports.worker import ReportIssued, run_once
from slm_measurement.service import apply_due_versions, evaluate_due
from slm_measurement.terms import AgreementTerms
from slm_measurement.tickets.service import TicketRules
from slm_measurement.tickets.worker import fire_due_tickets
from slm_shared.contracts.payloads import AgreementEndedV1
from slm_shared.db import Database
from slm_shared.testing.pytest_plugin import make_token

BREACHED = "slm.measurement.ticket.sla_breached.v1"


async def failed(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/failed-items", params={"kind": kind})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def retry_now(db: Database, kind: str, *, now: datetime | None = None) -> None:
    """Let the backoff of every failed item of a kind run out (as of `now`)."""
    async with db.session() as session:
        past = (now or datetime.now(UTC)) - timedelta(seconds=1)
        await session.execute(update(ItemFailure).where(ItemFailure.kind == kind).values(retry_at=past))


async def test_a_pending_version_that_cannot_be_applied_stops_neither_the_others_nor_evaluation(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    db: Database = app.state.db
    bad, good = activation(service_key="poisoned"), activation(service_key="healthy")
    async with db.session() as session:
        for agreement in (bad, good):
            await read_model.apply_activation(session, tenant="acme", agreement=agreement)
        due = datetime.now(UTC) - timedelta(minutes=1)
        amended = good.model_copy(update={"version": 2, "effective_from": due})
        # The bad one was stored by an older release in a shape this one no longer reads.
        poison = {"agreement_id": bad.agreement_id, "version": 2, "objectives": [{"objective_id": "x"}]}
        for agreement_id, payload in ((bad.agreement_id, poison), (good.agreement_id, amended.model_dump(mode="json"))):
            session.add(
                PendingActivation(
                    tenant="acme", agreement_id=agreement_id, version=2, effective_from=due, payload=payload
                )
            )

    assert await apply_due_versions(db) >= 1  # no exception: the good version is applied
    listed = (await client.get("/v1/objectives", params={"agreement_id": good.agreement_id})).json()["items"]
    assert [item["agreement_version"] for item in listed] == [2]
    [item] = await failed(client, "pending_activation")
    assert item["attempts"] == 1 and "validation error" in item["reason"].lower()
    other_tenant = {"Authorization": f"Bearer {make_token('globex')}"}
    customer = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='party-a')}"}
    assert (await client.get("/v1/failed-items", headers=other_tenant)).json()["items"] == []
    assert (await client.get("/v1/failed-items", headers=customer)).status_code == 403
    first_retry = datetime.fromisoformat(item["retry_at"]) - datetime.fromisoformat(item["last_failed_at"])
    assert first_retry == timedelta(seconds=30)

    # Evaluation goes on for every objective, the poisoned agreement's included.
    assert await evaluate_due(db, interval=timedelta(hours=1), limit=100) == 2

    await apply_due_versions(db)  # still backing off: not tried again
    assert (await failed(client, "pending_activation"))[0]["attempts"] == 1
    await retry_now(db, "pending_activation")
    await apply_due_versions(db)
    [item] = await failed(client, "pending_activation")
    assert item["attempts"] == 2
    assert datetime.fromisoformat(item["retry_at"]) - datetime.fromisoformat(item["last_failed_at"]) == timedelta(
        seconds=60
    )

    # Repaired, it goes through and leaves the list.
    async with db.session() as session:
        repaired = bad.model_copy(update={"version": 2, "effective_from": datetime.now(UTC) - timedelta(minutes=1)})
        await session.execute(
            update(PendingActivation)
            .where(PendingActivation.agreement_id == bad.agreement_id)
            .values(payload=repaired.model_dump(mode="json"))
        )
    await retry_now(db, "pending_activation")
    await apply_due_versions(db)
    assert await failed(client, "pending_activation") == []
    async with db.sessionmaker() as session:
        query = select(Objective.agreement_version).where(Objective.agreement_id == bad.agreement_id)
        versions = (await session.scalars(query)).all()
    assert list(versions) == [2]

    # A failing version that an end (or a newer version) makes moot leaves the list with it.
    async with db.session() as session:
        moot = {"agreement_id": bad.agreement_id, "version": 3, "effective_from": datetime.now(UTC)}
        session.add(PendingActivation(tenant="acme", payload=poison, **moot))
    await apply_due_versions(db)
    assert [i["attempts"] for i in await failed(client, "pending_activation")] == [1]
    async with db.session() as session:
        ended = AgreementEndedV1(agreement_id=bad.agreement_id, version=3, reason="terminated")
        await read_model.apply_end(session, tenant="acme", ended=ended)
    await apply_due_versions(db)
    assert await failed(client, "pending_activation") == []


async def test_a_ticket_that_cannot_be_evaluated_does_not_undo_the_others(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    db: Database = app.state.db
    run = uuid.uuid4().hex[:8]
    keys = {"bad": f"desk-bad-{run}", "good": f"desk-good-{run}"}
    ids = {name: str(uuid.uuid4()) for name in keys}
    # an hour to respond: the ingest below, however slow the machine, cannot see the tickets breached; the clock
    # worker is then run as of an instant past that hour
    targets = [{"priority": "P1", "response_seconds": 3600, "resolution_seconds": 86400}]
    for name, key in keys.items():
        agreement = ticket_agreement(agreement_id=ids[name], service_key=key, party="party-a", ticket_targets=targets)
        await activate(db, agreement)
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    batch = [
        {"id": f"{key}-1", "ticket_id": f"{key}-T1", "type": "opened", "at": opened.isoformat(), "service": key,
         "priority": "P1", "customer": "party-a"}
        for key in keys.values()
    ]  # fmt: skip
    assert (await client.post("/v1/tickets/events", json=batch)).status_code == 202
    for key in keys.values():  # nothing breached at ingest: the bad ticket's breach can only come from the worker
        assert await outbox(db, BREACHED, ticket_id=f"{key}-T1") == []
    async with db.session() as session:  # a calendar this release cannot read (stored by an older one)
        await session.execute(
            update(AgreementTerms)
            .where(AgreementTerms.agreement_id == ids["bad"])
            .values(calendar={"holidays": ["the first monday"]})
        )
    later = opened + timedelta(seconds=3600, minutes=1)  # past the response target: both tickets breached

    rules = TicketRules()
    assert await fire_due_tickets(db, rules=rules, now=later) == 1  # the good one; the bad one's error undoes it alone
    assert len(await outbox(db, BREACHED, ticket_id=f"{keys['good']}-T1")) == 1  # the good ticket's breach, once
    [item] = await failed(client, "ticket")
    assert item["attempts"] == 1 and "the first monday" in item["reason"]
    assert await outbox(db, BREACHED, ticket_id=f"{keys['bad']}-T1") == []

    async with db.session() as session:  # repaired, it fires once its retry comes
        await session.execute(
            update(AgreementTerms).where(AgreementTerms.agreement_id == ids["bad"]).values(calendar=None)
        )
    assert await fire_due_tickets(db, rules=rules, now=later) == 0  # still backing off: not tried again
    retried = later + timedelta(minutes=1)
    await retry_now(db, "ticket", now=retried)
    assert await fire_due_tickets(db, rules=rules, now=retried) == 1
    assert await failed(client, "ticket") == []
    assert len(await outbox(db, BREACHED, ticket_id=f"{keys['bad']}-T1")) == 1
    assert len(await outbox(db, BREACHED, ticket_id=f"{keys['good']}-T1")) == 1  # not fired twice


async def test_a_report_that_cannot_be_built_does_not_block_the_others(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    db: Database = app.state.db
    ids = {"bad": str(uuid.uuid4()), "good": str(uuid.uuid4())}
    price = {"amount": "1000", "currency": "EUR", "period": "month"}
    for name, agreement_id in ids.items():
        await activate(
            db, ticket_agreement(agreement_id=agreement_id, service_key=f"rep-{name}", party="p", price=price)
        )
    async with db.session() as session:  # a price this release cannot read
        await session.execute(
            update(AgreementTerms).where(AgreementTerms.agreement_id == ids["bad"]).values(price={"amount": "lots"})
        )
    now = datetime(2026, 4, 2, tzinfo=UTC)
    assert await run_once(db, trend_count=1, now=now) == 1
    ready = await outbox(db, "slm.measurement.report.ready.v1")
    assert [r["agreement_id"] for r in ready] == [ids["good"]]
    [item] = await failed(client, "report")
    assert item["item_id"] == f"{ids['bad']}/2026-03" and "amount" in item["reason"]

    assert await run_once(db, trend_count=1, now=now) == 0  # backing off, and the good one is not issued twice
    async with db.session() as session:
        await session.execute(
            update(AgreementTerms).where(AgreementTerms.agreement_id == ids["bad"]).values(price=price)
        )
    await retry_now(db, "report", now=now)
    assert await run_once(db, trend_count=1, now=now) == 1
    assert await failed(client, "report") == []
    async with db.sessionmaker() as session:
        issued = (await session.scalars(select(ReportIssued.agreement_id).order_by(ReportIssued.agreement_id))).all()
    assert sorted(issued) == sorted(ids.values())
