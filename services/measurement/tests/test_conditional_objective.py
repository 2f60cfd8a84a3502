"""Conditional GET on one objective: an ETag of the body, 304 with no body while it is the same, checked
after the token, the tenant and the party, and a new body (and tag) whenever anything in it changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from measurement_support import activation, points
from pydantic import ValidationError
from sqlalchemy import select, update

from slm_measurement import read_model, router
from slm_measurement.config import Settings
from slm_measurement.main import configured
from slm_measurement.models import Objective
from slm_measurement.router import objective_public
from slm_shared.testing.pytest_plugin import make_token


def bearer(tenant: str = "acme", role: str = "admin", party: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tenant, roles=(role,), party=party)}"}


async def one_objective(app: FastAPI, client: httpx.AsyncClient) -> str:
    """Activate one agreement of party-a's with one objective; the path that reads it."""
    async with app.state.db.session() as session:
        assert await read_model.apply_activation(session, tenant="acme", agreement=activation(party="party-a"))
    objective_id = (await client.get("/v1/objectives")).json()["items"][0]["id"]
    return f"/v1/objectives/{objective_id}"


async def test_an_objective_answers_304_only_while_its_body_is_the_same(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    path = await one_objective(app, client)

    first = await client.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and first.headers["Vary"] == "Authorization"
    unchanged = await client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["ETag"] == etag
    assert (await client.get(path, headers={"If-None-Match": f'"x", W/{etag}'})).status_code == 304

    # An evaluation changes the body: the old tag gets the new body (and its own tag) with 200.
    await client.post("/v1/measurements", json=points("payments", 990, 1000, minutes_ago=3))
    assert (await client.post(f"{path}/evaluate")).status_code == 200
    evaluated = await client.get(path, headers={"If-None-Match": etag})
    assert evaluated.status_code == 200 and evaluated.json()["good"] == 990
    assert evaluated.headers["ETag"] != etag and evaluated.json() != first.json()
    etag = evaluated.headers["ETag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304

    # So does a change of policy alone (the at_risk rule: one field of the body).
    policy = await client.put(f"{path}/policy", json={"at_risk": "all_forecasts"})
    assert policy.status_code == 200, policy.text
    changed = await client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["at_risk"] == "all_forecasts"
    assert changed.headers["ETag"] != etag


async def test_a_304_needs_the_token_and_never_answers_for_another_tenant_or_party(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    path = await one_objective(app, client)
    etag = (await client.get(path)).headers["ETag"]
    conditional = {"If-None-Match": etag}

    assert (await client.get(path, headers={**conditional, "Authorization": ""})).status_code == 401
    assert (await client.get(path, headers={**conditional, "Authorization": "Bearer forged"})).status_code == 401
    assert (await client.get(path, headers={**conditional, **bearer(role="ingest")})).status_code == 403
    # Another tenant, or another customer of this tenant, holding the tag: the objective is not theirs to know of.
    for outsider in (bearer("globex"), bearer(role="customer", party="party-b")):
        refused = await client.get(path, headers={**conditional, **outsider})
        assert refused.status_code == 404 and "ETag" not in refused.headers
    # The objective's own customer reads the same body, so the same tag holds for it.
    assert (
        await client.get(path, headers={**conditional, **bearer(role="customer", party="party-a")})
    ).status_code == 304


async def test_a_change_made_in_the_table_alone_is_answered_at_once(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """The body of an unchanged row is answered as built before; a row changed in any value, even one nested in
    its details with nothing else touched (not `updated_at`), is answered with its new body and tag."""
    app, client = app_client
    path = await one_objective(app, client)
    first = await client.get(path)
    assert (await client.get(path)).content == first.content

    objectives = Objective.__table__  # type: ignore[attr-defined]
    async with app.state.db.session() as session:
        details = (await session.execute(select(objectives.c.details))).scalar_one() or {}
        await session.execute(update(objectives).values(details={**details, "excluded_minutes": 7}))
    changed = await client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.json()["excluded_minutes"] == 7
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert {k: v for k, v in changed.json().items() if k != "excluded_minutes"} == {
        k: v for k, v in first.json().items() if k != "excluded_minutes"
    }
    # The objective's customer reads the same row, so the same body; another party still reads nothing.
    own = await client.get(path, headers=bearer(role="customer", party="party-a"))
    assert own.content == changed.content
    assert (await client.get(path, headers=bearer(role="customer", party="party-b"))).status_code == 404


async def test_an_unchanged_row_is_answered_with_the_body_built_before(
    app_client: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route keeps the body it built for a row: read twice unchanged, it is built once; changed, again; with
    MEASUREMENT_OBJECTIVE_BODIES=0, on every read."""
    app, client = app_client
    path = await one_objective(app, client)
    builds: list[Any] = []  # the row is new (its own ids), so no body was kept for it before

    def counted(row: Any) -> Any:
        builds.append(row)
        return objective_public(row)

    monkeypatch.setattr(router, "objective_public", counted)
    first, again = await client.get(path), await client.get(path)
    assert first.status_code == again.status_code == 200 and again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"] and len(builds) == 1

    objectives = Objective.__table__  # type: ignore[attr-defined]
    async with app.state.db.session() as session:
        await session.execute(update(objectives).values(at_risk_rule="all_forecasts"))
    changed = await client.get(path)
    assert changed.status_code == 200 and changed.json()["at_risk"] == "all_forecasts" and len(builds) == 2

    # as a process started with MEASUREMENT_OBJECTIVE_BODIES=0 does: a row read anew is built on every read
    configured(app.state.settings.model_copy(update={"objective_bodies": 0}))
    async with app.state.db.session() as session:
        await session.execute(update(objectives).values(name="renamed"))
    answers = [await client.get(path) for _ in range(2)]
    assert [a.json()["name"] for a in answers] == ["renamed"] * 2 and len(builds) == 4


async def test_a_row_holding_a_value_json_cannot_write_is_answered(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """A lone surrogate in a column the body leaves out (a note in an observed span) does not stop the read."""
    app, client = app_client
    path = await one_objective(app, client)
    before = await client.get(path)

    objectives = Objective.__table__  # type: ignore[attr-defined]
    async with app.state.db.session() as session:
        await session.execute(update(objectives).values(observed=[{"note": "\ud800"}]))
    for _ in range(2):
        answered = await client.get(path)
        assert answered.status_code == 200, answered.text
        assert answered.content == before.content and answered.headers["ETag"] == before.headers["ETag"]


def test_a_negative_count_of_objective_bodies_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEASUREMENT_OBJECTIVE_BODIES", "-1")
    with pytest.raises(ValidationError, match="MEASUREMENT_OBJECTIVE_BODIES must be 0 or more"):
        Settings()
