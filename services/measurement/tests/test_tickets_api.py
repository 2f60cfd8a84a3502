"""Ticket events over REST: idempotent, all or nothing; clocks; warnings and breach on time; scoping."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from ticket_support import TICKET_OBJECTIVE, activate, outbox, ticket_agreement

from slm_measurement import service
from slm_measurement.models import Objective
from slm_measurement.tickets.models import TicketEventRow
from slm_measurement.tickets.service import TicketRules
from slm_measurement.tickets.worker import fire_due_tickets
from slm_shared.db import Database
from slm_shared.testing.pytest_plugin import make_token

WARNING, BREACHED = "slm.measurement.ticket.sla_warning.v1", "slm.measurement.ticket.sla_breached.v1"


def _auth(tenant: str = "acme", roles: tuple[str, ...] = ("admin",), party: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tenant, roles, party)}"}


async def test_ticket_clocks_fire_warnings_and_breach_once_on_time_and_scope_readers(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    key, agreement_id = f"desk-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await activate(
        db, ticket_agreement(agreement_id=agreement_id, service_key=key, party="party-a", objectives=[TICKET_OBJECTIVE])
    )
    opened = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    batch = [{"id": f"{key}-1", "ticket_id": f"{key}-T1", "type": "opened", "at": opened.isoformat(),
              "service": key, "priority": "P1", "customer": "party-a"}]  # fmt: skip
    first = await client.post("/v1/tickets/events", json=batch, headers={"Idempotency-Key": f"{key}-k"})
    assert first.status_code == 202 and first.json() == {"accepted": 1, "duplicates": 0, "tickets": 1}
    replayed = await client.post("/v1/tickets/events", json=batch, headers={"Idempotency-Key": f"{key}-k"})
    assert replayed.json() == first.json()
    again = await client.post("/v1/tickets/events", json=batch)
    assert again.json() == {"accepted": 0, "duplicates": 1, "tickets": 0}

    refused = await client.post("/v1/tickets/events", json=[
        {"id": f"{key}-x1", "ticket_id": f"{key}-T9", "type": "opened", "at": opened.isoformat(),
         "service": key, "priority": "P1"},
        {"id": f"{key}-x2", "ticket_id": f"{key}-T8", "type": "responded", "at": opened.isoformat()},
    ])  # fmt: skip
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "[1].type"
    bad = await client.post(
        "/v1/tickets/events", json=[{"id": "b", "ticket_id": "t", "type": "opened", "at": "yesterday"}]
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "[0].at"
    async with db.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).where(TicketEventRow.ticket_id == f"{key}-T9"))
    assert stored == 0

    rules = TicketRules()
    # Each warning fired as of just past its own instant, however late this test reaches it: a look that came only
    # after the breach's instant (a stalled, loaded machine) would rightly send the breach alone (late data).
    for seconds in (2, 3):
        instant = opened + timedelta(seconds=seconds, milliseconds=10)
        await asyncio.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()))
        await fire_due_tickets(db, rules=rules, now=instant)
    while not await outbox(db, BREACHED, ticket_id=f"{key}-T1"):
        await fire_due_tickets(db, rules=rules)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    await fire_due_tickets(db, rules=rules)
    warnings = await outbox(db, WARNING, ticket_id=f"{key}-T1")
    [breach] = await outbox(db, BREACHED, ticket_id=f"{key}-T1")
    assert [w["threshold"] for w in warnings] == [0.5, 0.75] and breach["clock"] == "response"
    for payload, seconds in ((warnings[0], 2), (warnings[1], 3), (breach, 4)):
        due = datetime.fromisoformat(payload["due_at"])
        assert due == opened + timedelta(seconds=seconds)
        assert (
            timedelta(0) <= datetime.fromisoformat(payload["observed_at"]) - due < timedelta(seconds=5)
        )  # fired by the clock
    assert breach["agreement_id"] == agreement_id and breach["consumer_party_id"] == "party-a"

    ticket = (await client.get(f"/v1/tickets/{key}-T1")).json()
    response, resolution = ticket["clocks"]["response"], ticket["clocks"]["resolution"]
    assert response["state"] == "breached" and response["goal_seconds"] == 4
    assert datetime.fromisoformat(response["breach_at"]) == opened + timedelta(seconds=4)
    assert resolution["state"] == "running" and resolution["remaining_seconds"] > 3500
    assert datetime.fromisoformat(resolution["breach_at"]) == opened + timedelta(hours=1)
    breached = (await client.get("/v1/tickets", params={"sla": "breached", "service": key})).json()
    assert [t["ticket_id"] for t in breached["items"]] == [f"{key}-T1"]

    assert (
        await client.get(f"/v1/tickets/{key}-T1", headers=_auth(roles=("customer",), party="party-a"))
    ).status_code == 200
    assert (
        await client.get(f"/v1/tickets/{key}-T1", headers=_auth(roles=("customer",), party="party-b"))
    ).status_code == 404
    other = await client.get(
        "/v1/tickets", params={"service": key}, headers=_auth(roles=("customer",), party="party-b")
    )
    assert other.json()["total"] == 0
    assert (await client.get(f"/v1/tickets/{key}-T1", headers=_auth(tenant="globex"))).status_code == 404
    assert (
        await client.post("/v1/tickets/events", json=batch, headers=_auth(roles=("customer",), party="party-a"))
    ).status_code == 403

    async with db.session() as session:
        row = await session.scalar(
            select(Objective).where(Objective.agreement_id == agreement_id, Objective.indicator_kind == "ticket_time")
        )
        assert row is not None and row.needs_evaluation
        evaluated = await service.evaluate_now(session, tenant="acme", objective_row_id=row.id)
        assert (evaluated.good, evaluated.total, evaluated.status) == (0.0, 1.0, "breached")
