"""Bad input never reaches a 500: every parameter of every measurement route made hostile, then generated requests."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from measurement_support import activation

from slm_measurement import read_model
from slm_shared.testing.fuzz import fuzz, sweep


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.mark.timeout(300)  # some hundred requests through the whole app; slow on a loaded machine
async def test_generated_requests_never_reach_a_5xx(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    agreement = activation(service_key="fuzz", party="party-a")
    async with app.state.db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=agreement)
    objective = (await client.get("/v1/objectives", params={"agreement_id": agreement.agreement_id})).json()
    known = {
        "objective_id": objective["items"][0]["id"],
        "agreement_id": agreement.agreement_id,
        "party_id": "party-a",
        "service": "fuzz",
    }
    await sweep(client, known=known)
    await fuzz(client, examples=150, known=known)
