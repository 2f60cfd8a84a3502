"""If-Match is atomic on PostgreSQL: of two party updates sent at once with one ETag, exactly one wins."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from test_agreements_activation import Bearer, Seed, agree
from test_agreements_reviews import active_sla

from slm_agreements.config import Settings
from slm_agreements.jobs import run_once
from slm_agreements.main import build_app
from slm_shared.bus.models import OutboxMessage
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_same_etag_twice_gives_one_success_and_one_412(client: httpx.AsyncClient) -> None:
    for round_ in range(5):
        created = await client.post("/v1/parties", json={"name": f"Party {round_}", "kind": "customer"})
        assert created.status_code == 201, created.text
        path = f"/v1/parties/{created.json()['id']}"
        etag = (await client.get(path)).headers["ETag"]
        responses = await asyncio.gather(
            *(client.patch(path, json={"name": name}, headers={"If-Match": etag}) for name in ("First", "Second"))
        )
        assert sorted(r.status_code for r in responses) == [200, 412], [r.text for r in responses]
        winner = next(r.json() for r in responses if r.status_code == 200)
        assert (await client.get(path)).json()["name"] == winner["name"]


async def test_two_activations_for_one_customer_and_service_put_one_in_force(
    client: httpx.AsyncClient, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    customer = bearer(roles=("customer",), party=parties["customer"])
    for _ in range(3):
        offering = await seed_offering()
        base = {"kind": "SLA", "name": "Pay", "consumer_party_id": parties["customer"], **offering}
        first, second = await agree(client, base, customer), await agree(client, base, customer)
        responses = await asyncio.gather(
            client.post(f"/v1/agreements/{first}/activate"), client.post(f"/v1/agreements/{second}/activate")
        )
        assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
        states = [(await client.get(f"/v1/agreements/{aid}")).json()["state"] for aid in (first, second)]
        assert sorted(states) == ["active", "agreed"]


async def test_two_replicas_emit_each_reminder_once(
    settings: Settings, seed_offering: Seed, parties: dict[str, str], bearer: Bearer
) -> None:
    quiet = settings.model_copy(update={"jobs_interval_seconds": 3600.0})  # passes run only when called below
    first, second = build_app(quiet), build_app(quiet)
    async with running_app(first, token=make_token("acme", ("manager",))) as client, running_app(second):
        started = datetime.now(UTC) - timedelta(days=25)
        ends = datetime.now(UTC) + timedelta(days=10)
        agreements = []
        for _ in range(3):
            offering = await seed_offering()
            terms = {"effective_from": started.isoformat(), "effective_to": ends.isoformat(), "review_cycle": "monthly"}
            aid = await active_sla(client, offering, parties, bearer, **terms)
            action = {"title": "Fix", "owner": "sam", "due_on": (date.today() - timedelta(days=1)).isoformat()}
            assert (await client.post(f"/v1/agreements/{aid}/actions", json=action)).status_code == 201
            agreements.append(aid)
        for _ in range(3):
            await asyncio.gather(run_once(first.state.context), run_once(second.state.context))
        async with first.state.db.session() as session:
            rows = (await session.execute(select(OutboxMessage.type, OutboxMessage.body))).all()
    kinds = ("agreement.renewal_due", "review.due", "action.overdue")
    emitted = Counter(
        (kind, json.loads(body)["agreement_id"]) for type_, body in rows for kind in kinds if kind in type_
    )
    assert emitted == Counter({(kind, aid): 1 for kind in kinds for aid in agreements})
