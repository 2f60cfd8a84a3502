"""A breach's improvement action is opened in four reads: the agreement with its service's name, the breached
objective, an action still open for it, and the agreement's parties. What the handler read to choose the owner and
link the objective is not read again to create the action."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select
from sqlmodel import col
from test_agreements_reviews import Bearer, Seed, active_sla

from slm_agreements.actions.handlers import on_objective_breached
from slm_agreements.actions.models import ImprovementAction
from slm_shared.contracts import CloudEvent

TABLE_READ = re.compile(r"\b(?:FROM|JOIN)\s+\"?(\w+)\"?", re.IGNORECASE)


def breach(agreement_id: str, objective_id: str) -> CloudEvent:
    now = datetime.now(UTC).isoformat()
    data = {
        "agreement_id": agreement_id,
        "objective_id": objective_id,
        "service_key": "payments",
        "indicator": "availability",
        "status": "breached",
        "previous_status": "at_risk",
        "objective": 0.999,
        "attainment": 0.99,
        "good": 99,
        "total": 100,
        "window_start": now,
        "window_end": now,
        "observed_at": now,
    }
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "/slm/measurement",
        "ce-type": "slm.measurement.objective.breached.v1",
        "ce-time": now,
        "ce-tenant": "acme",
        "content-type": "application/json",
    }
    return CloudEvent.from_message(headers, json.dumps(data).encode())


async def test_the_breach_action_takes_four_reads(
    app: FastAPI, client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    aid = await active_sla(client, await seed_offering(), parties, bearer)
    objective_id = (await client.get(f"/v1/agreements/{aid}")).json()["objectives"][0]["id"]
    db = app.state.db
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
    async with db.session(read_only=True) as session:
        action = (
            await session.scalars(select(ImprovementAction).where(col(ImprovementAction.agreement_id) == aid))
        ).one()
    # the customer's first-level service level manager (the provider lists no contact), as before
    assert (action.owner, action.owner_email, action.owner_party_id) == ("Sam", "sam@example.com", parties["customer"])
    assert (action.objective_id, action.source) == (objective_id, "breach")
