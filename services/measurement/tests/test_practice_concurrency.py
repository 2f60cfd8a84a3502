"""Two requests at once: an observation is withdrawn once, a proposal decided once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from measurement_support import activation

from slm_measurement import read_model, terms
from slm_measurement.portfolio.models import Proposal
from slm_shared.testing.pytest_plugin import make_token


async def test_two_withdrawals_and_two_decisions_at_once_each_happen_once(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    agreement = activation(party="party-a")
    agreement.effective_from = datetime.now(UTC) - timedelta(hours=1)
    async with app.state.db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=agreement)
        await terms.store_activation(session, tenant="acme", agreement=agreement, at=agreement.effective_from)
        session.add(
            Proposal(tenant="acme", agreement_id=agreement.agreement_id, agreement_name="Payments Gold",
                     objective_id="o", service_key="payments", kind="amendment", period="2026-11", reason="missed")
        )  # fmt: skip
        await session.commit()
    customer = {"Authorization": f"Bearer {make_token('acme', ('customer',), party='party-a')}"}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    created = await client.post(
        f"/v1/agreements/{agreement.agreement_id}/observations",
        json={"summary": "down", "start": (now - timedelta(minutes=5)).isoformat(), "end": now.isoformat()},
        headers=customer,
    )
    assert created.status_code == 201, created.text
    path = f"/v1/observations/{created.json()['id']}/withdraw"
    answers = await asyncio.gather(*(client.post(path, headers=customer) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 409]

    listed = (await client.get("/v1/portfolio", params={"period": now.strftime("%Y-%m")})).json()
    proposal = listed["proposals"][0]["id"]
    decisions = await asyncio.gather(
        client.post(f"/v1/portfolio/proposals/{proposal}/accept"),
        client.post(f"/v1/portfolio/proposals/{proposal}/dismiss"),
    )
    assert sorted(d.status_code for d in decisions) == [200, 409]
