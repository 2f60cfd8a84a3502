"""A breach's improvement action is opened in four reads: the agreement with its service's name, the breached
objective, an action still open for it, and the agreement's parties. What the handler read to choose the owner and
link the objective is not read again to create the action. A party of another tenant is never the owner."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from typing import Any

import httpx
from conftest import breach_data
from fastapi import FastAPI
from sqlalchemy import event, select, update
from sqlmodel import col
from test_agreements_reviews import Bearer, Seed, active_sla

from slm_agreements.actions.handlers import on_objective_breached
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.catalog.models import CatalogService
from slm_agreements.models import Agreement
from slm_shared.contracts import CloudEvent
from slm_shared.db import utcnow

TABLE_READ = re.compile(r"\b(?:FROM|JOIN)\s+\"?(\w+)\"?", re.IGNORECASE)


def breach(agreement_id: str, objective_id: str) -> CloudEvent:
    data = breach_data(agreement_id, objective_id)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "/slm/measurement",
        "ce-type": "slm.measurement.objective.breached.v1",
        "ce-time": data["observed_at"],
        "ce-tenant": "acme",
        "content-type": "application/json",
    }
    return CloudEvent.from_message(headers, json.dumps(data).encode())


# the provider's contacts: its first-level service level manager owns the action, not its first contact
PROVIDER_CONTACTS = [
    {"name": "Lee", "email": "lee@example.com", "role": "technical_contact", "escalation_level": 1},
    {"name": "Max", "email": "max@example.com", "role": "service_level_manager", "escalation_level": 2},
    {"name": "Pat", "email": "pat@example.com", "role": "service_level_manager", "escalation_level": 1},
]


async def new_party(client: httpx.AsyncClient, name: str, kind: str, **request: Any) -> str:
    body = {"name": name, "kind": kind, "contacts": PROVIDER_CONTACTS}
    response = await client.post("/v1/parties", json=body, **request)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def the_action(app: FastAPI, agreement_id: str) -> ImprovementAction:
    async with app.state.db.session(read_only=True) as session:
        query = select(ImprovementAction).where(col(ImprovementAction.agreement_id) == agreement_id)
        return (await session.scalars(query)).one()


async def test_the_breach_action_takes_four_reads(
    app: FastAPI, client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    provider = await new_party(client, "Payments Team", "internal")
    offering = await seed_offering(service_id="svc-payments")
    db = app.state.db
    async with db.session() as session:
        # stored before the agreement's service: another of the tenant's (sorting before it) and one of another
        # tenant with the same id; a join missing either condition names one of them
        for tenant, service_id, name in (
            ("acme", "svc-billing", "Billing"),
            ("globex", "svc-payments", "Globex Payments"),
            ("acme", "svc-payments", "Card Payments"),
        ):
            session.add(
                CatalogService(tenant=tenant, id=service_id, key=service_id[4:], name=name, observed_at=utcnow())
            )
    aid = await active_sla(client, offering, parties, bearer, provider_party_id=provider)
    objective_id = (await client.get(f"/v1/agreements/{aid}")).json()["objectives"][0]["id"]
    reads: Counter[str] = Counter()  # per table, the reads naming it
    selects: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)
            reads.update(set(TABLE_READ.findall(statement)))

    async with db.session() as session:
        connection = (await session.connection()).sync_connection
        event.listen(connection, "before_cursor_execute", count)
        try:
            await on_objective_breached(session, breach(aid, objective_id))
            await session.flush()
        finally:
            event.remove(connection, "before_cursor_execute", count)

    assert len(selects) == 4, selects
    assert reads["parties"] == 1, reads
    assert reads["agreement_objectives"] == 1, reads
    assert reads["agreements"] == reads["catalog_services"] == 1, reads
    action = await the_action(app, aid)
    assert action.title_params is not None and action.title_params["service_name"] == "Card Payments"
    # the provider's first-level service level manager, chosen before the consumer's (Sam)
    assert (action.owner, action.owner_email, action.owner_party_id) == ("Pat", "pat@example.com", provider)
    assert (action.objective_id, action.source) == (objective_id, "breach")


async def test_a_provider_of_another_tenant_is_passed_over_for_the_consumer(
    app: FastAPI, client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    """An agreement row naming another tenant's party as provider (creation refuses one; an older or damaged row
    may hold it): the breach's action goes to the consumer's contact, where it once was refused and not opened."""
    aid = await active_sla(client, await seed_offering(), parties, bearer)
    objective_id = (await client.get(f"/v1/agreements/{aid}")).json()["objectives"][0]["id"]
    stranger = await new_party(client, "Globex Ops", "internal", headers=bearer(tenant="globex"))
    db = app.state.db
    async with db.session() as session:
        await session.execute(update(Agreement).where(col(Agreement.id) == aid).values(provider_party_id=stranger))

    async with db.session() as session:
        await on_objective_breached(session, breach(aid, objective_id))

    action = await the_action(app, aid)
    assert (action.owner, action.owner_email, action.owner_party_id) == ("Sam", "sam@example.com", parties["customer"])
