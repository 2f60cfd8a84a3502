"""Reports and credits count only time in force, in each objective's own window time zone (worked by hand)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ticket_support import activate, ticket_agreement

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token

PRICE = {"amount": "1000", "currency": "EUR", "period": "month"}


@pytest.fixture
async def history_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The API with a lateness limit long enough to load a past month."""
    app = build_app(settings.model_copy(update={"run_workers": False, "max_lateness_seconds": 3 * 366 * 86400}))
    async with running_app(app, token=make_token("acme")) as client:
        yield app, client


def point(key: str, at: datetime, good: float, total: float) -> dict[str, Any]:
    return {"service": key, "indicator": "availability", "timestamp": at.isoformat(), "good": good, "total": total}


async def test_a_lisbon_month_objective_on_a_utc_agreement_counts_the_743_hours_of_lisbon_march(
    history_client,
) -> None:  # type: ignore[no-untyped-def]
    app, client = history_client
    key, agreement_id = f"lisbon-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    hourly = {
        "objective_id": "hours", "indicator": "availability", "target": 0.998, "budgeting_method": "timeslices",
        "timeslice_seconds": 3600, "timeslice_target": 0.99,
        "window": {"kind": "calendar", "unit": "month", "timezone": "Europe/Lisbon"},
    }  # fmt: skip
    await activate(app.state.db, ticket_agreement(
        agreement_id=agreement_id, service_key=key, party="p", timezone="UTC", objectives=[hourly], ticket_targets=[],
        effective_from=datetime(2026, 1, 1, tzinfo=UTC), price=PRICE,
        credit_schedule=[{"below": 0.998, "credit_percent": "10", "indicator": "availability"}],
    ))  # fmt: skip
    # Every hour of the UTC month has data; one bad hour inside Lisbon's March (which starts at 00:00 UTC,
    # WET, and ends at 23:00 UTC on the 31st, WEST) and one in the UTC month's last hour (Lisbon's April).
    start = datetime(2026, 3, 1, tzinfo=UTC)
    bad = {datetime(2026, 3, 10, 5, tzinfo=UTC), datetime(2026, 3, 31, 23, tzinfo=UTC)}
    hours = [start + timedelta(hours=h) for h in range(744)]
    points = [point(key, h + timedelta(minutes=30), 0 if h in bad else 100, 100) for h in hours]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202

    report = (await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": "2026-03"})).json()
    [hours_objective] = report["objectives"]
    assert (hours_objective["good"], hours_objective["total"]) == (742, 743)
    assert hours_objective["window"] == {
        "start": "2026-03-01T00:00:00+00:00", "end": "2026-03-31T23:00:00+00:00", "timezone": "Europe/Lisbon",
    }  # fmt: skip
    assert hours_objective["met"] is True  # 742/743 = 99.865% >= 99.8%; over the UTC month 742/744 would miss
    assert report["period"]["timezone"] == "UTC"
    assert (report["credit"]["percent"], report["credit"]["amount"]) == ("0", "0.00")


async def test_a_month_only_half_in_force_counts_and_prices_only_that_half(history_client) -> None:  # type: ignore[no-untyped-def]
    app, client = history_client
    key, agreement_id = f"partial-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    monthly = {"objective_id": "availability", "indicator": "availability", "target": 0.99,
               "window": {"kind": "calendar", "unit": "month"}}  # fmt: skip
    await activate(app.state.db, ticket_agreement(
        agreement_id=agreement_id, service_key=key, party="p", objectives=[monthly], ticket_targets=[],
        effective_from=datetime(2026, 3, 16, tzinfo=UTC), price=PRICE,
        credit_schedule=[{"below": 0.99, "down_to": 0.9, "credit_percent": "10"},
                         {"below": 0.9, "credit_percent": "40"}],
        credit_terms={"cap_percent": "30", "partial_period": "pro_rata"},
    ))  # fmt: skip
    points = [
        point(key, datetime(2026, 3, 10, 12, tzinfo=UTC), 0, 1000),  # before the agreement: not counted
        point(key, datetime(2026, 3, 20, 12, tzinfo=UTC), 980, 1000),
    ]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202

    report = (await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": "2026-03"})).json()
    [availability] = report["objectives"]
    assert (availability["good"], availability["total"], availability["attainment"]) == (980, 1000, 0.98)
    assert availability["in_force"] == [{"start": "2026-03-16T00:00:00+00:00", "end": "2026-04-01T00:00:00+00:00"}]
    # 16 of 31 days in force: 1000.00 x 16/31 = 516.13; the 10% band (0.98 is in [0.9, 0.99)) -> 51.61.
    credit = report["credit"]
    assert (credit["percent"], credit["period_price"], credit["amount"]) == ("10", "516.13", "51.61")
    assert credit["in_force_share"] == "0.516129"
    earlier = (await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": "2026-02"})).json()
    assert earlier["objectives"] == [] or earlier["objectives"][0]["total"] == 0
