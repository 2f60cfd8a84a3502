"""SQLite never enforced a tenant's 64 characters: a row kept with a longer one, whose events no consumer could be
sent (`InvalidEvent`), is left out by every scheduled job, and the other rows and jobs go on: a batch a job claims
holds no such row, so as many of them as the batch's limit, selected first, starve no other tenant's rows."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlmodel import col
from test_agreements_reviews import active_sla

from slm_agreements import jobs
from slm_agreements.actions import service as actions_service
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.config import Settings
from slm_agreements.jobs import run_once
from slm_agreements.main import build_app
from slm_agreements.models import Agreement, AgreementVersion
from slm_agreements.reviews import service as reviews_service
from slm_agreements.reviews.models import Review
from slm_shared.bus.models import OutboxMessage
from slm_shared.contracts.envelope import TENANT_MAX_LENGTH

LEGACY = "t" * (TENANT_MAX_LENGTH + 1)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return build_app(settings.model_copy(update={"jobs_interval_seconds": 3600.0}))  # passes run by the test


async def _due_events(app: FastAPI) -> list[tuple[str, str, str | None]]:
    async with app.state.db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.type, OutboxMessage.tenant, OutboxMessage.body).where(
                col(OutboxMessage.type).in_(
                    [
                        "slm.agreements.agreement.renewal_due.v1",
                        "slm.agreements.agreement.expired.v1",
                        "slm.agreements.review.due.v1",
                        "slm.agreements.action.overdue.v1",
                    ]
                )
            )
        )
        return [(kind, tenant, body) for kind, tenant, body in rows.all()]


async def test_a_row_of_a_legacy_long_tenant_is_left_out_and_every_other_job_goes_on(
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = datetime.now(UTC) - timedelta(days=25)
    terms = {
        "effective_from": started.isoformat(),
        "effective_to": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
        "review_cycle": "monthly",
    }
    # each of the four jobs has a row of the legacy tenant, and one of an ordinary tenant
    legacy = await active_sla(client, await seed_offering(), parties, bearer, **terms)
    ending = await active_sla(client, await seed_offering(service_key="ending"), parties, bearer, **terms)
    other = await active_sla(client, await seed_offering(service_key="other"), parties, bearer, **terms)
    overdue = {"title": "Fix", "owner": "sam", "due_on": (date.today() - timedelta(days=1)).isoformat()}
    for aid in (legacy, other):
        assert (await client.post(f"/v1/agreements/{aid}/actions", json=overdue)).status_code == 201
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with app.state.db.session() as session:
        # both end now: `ending` expires, `legacy` cannot (its event could not be built) and stays in force
        await session.execute(
            update(AgreementVersion)
            .where(col(AgreementVersion.agreement_id).in_([legacy, ending]))
            .values(effective_to=past)
        )
        for model, column in (
            (Agreement, Agreement.id),
            (AgreementVersion, AgreementVersion.agreement_id),
            (Review, Review.agreement_id),
            (ImprovementAction, ImprovementAction.agreement_id),
        ):
            await session.execute(update(model).where(col(column) == legacy).values(tenant=LEGACY))
    before = await _due_events(app)
    for module, limit in ((jobs, "EXPIRY_BATCH"), (actions_service, "OVERDUE_BATCH"), (reviews_service, "DUE_BATCH")):
        monkeypatch.setattr(module, limit, 1)  # a batch of one: the legacy row, made first, stands for a full batch

    with caplog.at_level(logging.WARNING, logger="slm_shared.bus.outbox"):
        await run_once(app.state.context)  # raised InvalidEvent; then claimed the legacy rows only, every pass
    new = [event for event in await _due_events(app) if event not in before]

    assert not [event for event in new if event[1] == LEGACY]
    kinds = {".".join(kind.split(".")[2:4]) for kind, _, _ in new}
    assert "agreement.expired" in kinds, new  # `ending`, in the batch the legacy row was in
    assert "agreement.renewal_due" in kinds, new  # `other`
    assert "action.overdue" in kinds, new  # `other`'s action, the job after them
    assert "review.due" in kinds, new  # `ending`'s and `other`'s reviews
    assert all(tenant == "acme" for _, tenant, _ in new)
    assert (await client.get(f"/v1/agreements/{ending}")).json()["state"] == "expired"
    assert not [r.getMessage() for r in caplog.records if "rename the tenant" in r.getMessage()]  # never selected
    async with app.state.db.session(read_only=True) as session:  # the legacy rows are left as they were
        kept = await session.get(Agreement, legacy)
        assert kept is not None and kept.state == "active"
        notified = await session.execute(
            select(ImprovementAction.overdue_notified_at).where(col(ImprovementAction.agreement_id) == legacy)
        )
        assert notified.scalars().all() == [None]
