"""Periods outside the API's bounds: a 422 naming `period` on every period-taking read, and a trend that stops."""

from __future__ import annotations

import uuid

import pytest
from test_reports import scenario

from slm_measurement.reports import periods
from slm_shared.db import Database

OUT_OF_BOUNDS = [
    {"period": "9999-12"},
    {"period": "0001-01"},
    {"period": "9999-Q4"},
    {"period": "0001-Q1"},
    {"start": "0001-01-01T00:00:00Z", "end": "0001-02-01T00:00:00Z"},
    {"start": "9999-11-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"},
]


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_periods_beyond_the_bounds_are_refused_naming_period(app_client, fmt: str) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    agreement_id, party = await scenario(db, client, uuid.uuid4().hex[:8])
    for params in OUT_OF_BOUNDS:
        for url in (f"/v1/agreements/{agreement_id}/report", f"/v1/parties/{party}/review-pack"):
            response = await client.get(url, params={**params, "format": fmt})
            assert response.status_code == 422, (url, params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in response.json()["errors"]] == ["period"], response.text
            assert "Error(" not in response.text and "year 0 is out of range" not in response.text
    for month in ("9999-12", "0001-01", "1970-01"):
        response = await client.get("/v1/portfolio", params={"period": month})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "period", response.text
    bad_zone = await client.get(
        f"/v1/parties/{party}/review-pack", params={"period": "2025-06", "timezone": "Mars/Base"}
    )
    assert bad_zone.status_code == 422 and bad_zone.json()["errors"][0]["field"] == "timezone"


async def test_the_first_period_in_bounds_reports_with_a_trend_that_stops_at_the_bound(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    agreement_id, party = await scenario(app.state.db, client, uuid.uuid4().hex[:8])
    first = await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": f"{periods.MIN_YEAR}-02"})
    assert first.status_code == 200 and first.json()["period"]["label"] == f"{periods.MIN_YEAR}-02", first.text
    assert (
        await client.get(f"/v1/parties/{party}/review-pack", params={"period": f"{periods.MAX_YEAR}-Q4"})
    ).status_code == 200
    assert [p.label for p in periods.previous(periods.month(periods.MIN_YEAR, 3), 12)] == [
        f"{periods.MIN_YEAR}-01",
        f"{periods.MIN_YEAR}-02",
    ]
