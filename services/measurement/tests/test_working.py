"""The working of an objective and evaluation as of any instant, worked by hand through the HTTP API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from ticket_support import activate, ticket_agreement

from slm_measurement import service
from slm_measurement.ingest import decode_batch
from slm_measurement.models import SliceTally
from slm_shared.db import Database
from slm_shared.testing.pytest_plugin import make_token

OTHER_PARTY = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='other')}"}
DAILY = {"kind": "rolling", "duration": "1d"}


def point(key: str, at: datetime, good: float, total: float) -> dict[str, Any]:
    return {"service": key, "indicator": "availability", "timestamp": at.isoformat(), "good": good, "total": total}


async def agreed(app: FastAPI, key: str, objective: dict[str, Any], **terms: Any) -> str:
    """Activate a one-objective agreement on `key` (party 'p'); its objective id."""
    objective_id = f"o-{uuid.uuid4().hex[:8]}"
    agreement = ticket_agreement(
        agreement_id=str(uuid.uuid4()),
        service_key=key,
        party="p",
        ticket_targets=[],
        objectives=[{"objective_id": objective_id, "indicator": "availability", **objective}],
        **terms,
    )
    await activate(app.state.db, agreement)
    return objective_id


async def read(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(
        path, params={k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_working_before_and_after_a_bad_burst(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    key = f"work-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    history = [
        point(key, now - timedelta(hours=3), 1000, 1000),
        point(key, now - timedelta(minutes=90), 995, 1000),
        point(key, now - timedelta(minutes=25), 0, 1000),  # inside maintenance: left out
        point(key, now - timedelta(minutes=3), 500, 1000),  # the burst
    ]
    assert (await client.post("/v1/measurements", json=history)).status_code == 202
    # The objective is agreed after the data arrived: its first evaluation reads the stored history.
    quiet = {"start": (now - timedelta(minutes=30)).isoformat(), "end": (now - timedelta(minutes=20)).isoformat()}
    objective_id = await agreed(app, key, {"target": 0.99, "window": DAILY},
                                effective_from=now - timedelta(days=2), maintenance_windows=[quiet])  # fmt: skip
    path = f"/v1/objectives/{objective_id}"
    stored = (await client.post(f"{path}/evaluate")).json()
    assert (stored["good"], stored["total"], stored["status"]) == (2495, 3000, "breached")

    # An hour ago: A and B only. Window [now-1d-59m, now-59m); budget 0.01 x 2000 = 20, 5 spent.
    before = await read(client, f"{path}/working", at=now - timedelta(hours=1))
    assert before["window"]["start_utc"] == (now - timedelta(days=1, minutes=59)).isoformat().replace("+00:00", "Z")
    assert datetime.fromisoformat(before["window"]["end_utc"]) == now - timedelta(minutes=59)
    assert (before["good"], before["total"], before["attainment"], before["status"]) == (1995, 2000, 0.9975, "healthy")
    budget = before["budget"]
    assert budget["allowed"] == pytest.approx(20) and budget["consumed"] == 5
    assert budget["remaining"] == pytest.approx(15) and budget["remaining_ratio"] == pytest.approx(0.75)
    tiers = {t["name"]: t for t in before["tiers"]}
    # page-6h on a 1-day window: factor 0.05 x 24 / 6 = 0.2; its 6 h holds A and B, its 30 m nothing.
    six = tiers["page-6h"]
    assert six["factor"] == pytest.approx(0.2) and not six["firing"]
    assert (six["long"]["good"], six["long"]["total"]) == (1995, 2000)
    assert six["long"]["burn_rate"] == pytest.approx(0.25)
    assert datetime.fromisoformat(six["long"]["start_utc"]) == now - timedelta(hours=6, minutes=59)
    assert (six["short"]["total"], six["short"]["burn_rate"]) == (0, None)
    assert tiers["page-1h"]["long"]["burn_rate"] == pytest.approx(0.5)  # B alone: 0.5% bad of a 1% budget

    # Now: the burst burns at 50 in the 1 h and 5 m windows, above page-1h's 0.02 x 24 = 0.48.
    after = await read(client, f"{path}/working", at=now)
    assert (after["good"], after["total"]) == (2495, 3000)
    assert after["budget"]["allowed"] == pytest.approx(30) and after["budget"]["consumed"] == 505
    assert after["budget"]["remaining"] == pytest.approx(-475)
    page = next(t for t in after["tiers"] if t["name"] == "page-1h")
    assert page["firing"] and page["factor"] == pytest.approx(0.48)
    assert (page["short"]["good"], page["short"]["total"], page["short"]["burn_rate"]) == (500, 1000, pytest.approx(50))
    [excluded] = after["excluded"]
    assert excluded["minutes"] == 10
    assert datetime.fromisoformat(excluded["start_utc"]) == now - timedelta(minutes=30)

    # A period given by its bounds: A and B, the burst outside.
    period = await read(client, f"{path}/working", start=now - timedelta(hours=4), end=now - timedelta(hours=1))
    assert (period["window"]["kind"], period["good"], period["total"]) == ("period", 1995, 2000)

    # The objective and burn-rate reads as of an hour ago give the figures from before the burst...
    then = await read(client, path, at=now - timedelta(hours=1))
    # (ticket-3d fires at 0.1 / 3: its 3 d and 6 h windows both burn at 0.25; page-1h does not yet.)
    assert (then["status"], then["good"], then["total"]) == ("healthy", 1995, 2000)
    assert then["firing_alerts"] == ["ticket-3d"] and "page-1h" in stored["firing_alerts"]
    assert then["budget"]["consumed"] == pytest.approx(0.0025)
    burn = await read(client, f"{path}/burn-rate", lookback="1h", at=now - timedelta(hours=1))
    assert (burn["good"], burn["total"], burn["burn_rate"]) == (995, 1000, pytest.approx(0.5))
    burn_now = await read(client, f"{path}/burn-rate", lookback="5m", at=now)
    assert (burn_now["good"], burn_now["total"]) == (500, 1000)
    # ...and write nothing: the stored evaluation is unchanged.
    again = await read(client, path)
    assert (again["status"], again["good"], again["evaluated_at"]) == ("breached", 2495, stored["evaluated_at"])
    assert again["firing_alerts"] == stored["firing_alerts"]

    # The status changes as of an instant: the breach recorded just now is not among those of an hour ago.
    assert [t["to_status"] for t in (await read(client, f"{path}/timeline"))["items"]] == ["breached"]
    assert (await read(client, f"{path}/timeline", at=now - timedelta(hours=1)))["items"] == []

    hidden = await client.get(f"{path}/working", headers=OTHER_PARTY)
    assert hidden.status_code == 404


async def test_a_replay_over_stored_history_reports_the_breach_and_stores_nothing(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    key = f"replay-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    history = [point(key, now - timedelta(hours=3), 1000, 1000), point(key, now - timedelta(minutes=3), 500, 1000)]
    assert (await client.post("/v1/measurements", json=history)).status_code == 202
    objective_id = await agreed(app, key, {"target": 0.99, "window": DAILY}, effective_from=now - timedelta(days=2))
    path = f"/v1/objectives/{objective_id}"
    replayed = await read(client, f"{path}/replay", **{"from": now - timedelta(hours=2), "to": now, "step": "1h"})
    seen = [(s["status"], s["event"], s["good"], s["total"]) for s in replayed["steps"]]
    assert seen == [("healthy", None, 1000, 1000), ("healthy", None, 1000, 1000), ("breached", "breached", 1500, 2000)]
    assert "page-1h" in replayed["steps"][-1]["firing_alerts"] and replayed["steps"][0]["firing_alerts"] == []
    untouched = await read(client, path)
    assert (untouched["status"], untouched["total"], untouched["evaluated_at"]) == ("no_data", 0, None)
    too_many = await client.get(f"{path}/replay", params={"from": "2026-01-01T00:00:00Z", "step": "1m"})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "step"


async def test_a_period_judges_its_tiers_by_the_periods_factors(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """Over a 3 h period page-1h fires at 0.02 x 3 = 0.06, not at the 1-day window's 0.48."""
    app, client = app_client
    key = f"period-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # 0.2% bad of a 1% budget: burning at 0.2 in page-1h's 1 h and 5 m windows at the period's end.
    assert (
        await client.post("/v1/measurements", json=[point(key, now - timedelta(minutes=63), 998, 1000)])
    ).status_code == 202
    objective_id = await agreed(app, key, {"target": 0.99, "window": DAILY}, effective_from=now - timedelta(days=2))
    path = f"/v1/objectives/{objective_id}/working"
    period = await read(client, path, start=now - timedelta(hours=4), end=now - timedelta(hours=1))
    page = next(t for t in period["tiers"] if t["name"] == "page-1h")
    assert page["factor"] == pytest.approx(0.06)
    assert page["long"]["burn_rate"] == pytest.approx(0.2) and page["short"]["burn_rate"] == pytest.approx(0.2)
    assert page["firing"]
    # As of the same instant over the objective's own 1-day window the factor is 0.48, and it does not fire.
    window = await read(client, path, at=now - timedelta(hours=1) - timedelta(microseconds=1))
    page = next(t for t in window["tiers"] if t["name"] == "page-1h")
    assert page["factor"] == pytest.approx(0.48) and not page["firing"]


async def test_timeslices_and_a_calendar_window_in_its_own_zone(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    key = f"slices-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    sliced = {"target": 0.9, "budgeting_method": "timeslices", "timeslice_seconds": 60, "timeslice_target": 0.99,
              "window": {"kind": "calendar", "unit": "month", "timezone": "Europe/Lisbon"}}  # fmt: skip
    objective_id = await agreed(app, key, sliced, effective_from=now - timedelta(days=2))
    last = now - timedelta(minutes=20)
    if last.astimezone(ZoneInfo("Europe/Lisbon")).strftime("%d %H:%M") == "01 00:00":
        last -= timedelta(minutes=2)  # keep both minutes in one Lisbon month
    points = [point(key, last - timedelta(minutes=1), 100, 100), point(key, last, 50, 100)]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202
    working = await read(client, f"/v1/objectives/{objective_id}/working", at=last)
    # Two one-minute slices, one good (100%) and one bad (50% < 99%): 1/2; budget 0.1 x 2 = 0.2 slices.
    assert (working["unit"], working["good"], working["total"]) == ("slices", 1, 2)
    assert working["budget"]["allowed"] == pytest.approx(0.2) and working["budget"]["remaining"] == pytest.approx(-0.8)
    start = datetime.fromisoformat(working["window"]["start"])
    assert (start.day, start.hour, start.minute) == (1, 0, 0)  # midnight on the 1st in Lisbon
    assert working["window"]["timezone"] == "Europe/Lisbon"
    assert start == datetime.fromisoformat(working["window"]["start_utc"])


async def test_instants_out_of_bounds_are_refused_naming_the_field(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    objective_id = await agreed(app, f"bounds-{uuid.uuid4().hex[:8]}", {"target": 0.99, "window": DAILY})
    path = f"/v1/objectives/{objective_id}"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases = [
        (f"{path}/working", {"at": "1969-12-31T23:59:00Z"}, "at"),
        (f"{path}/working", {"at": tomorrow}, "at"),
        (f"{path}/working", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
        (f"{path}/working", {"start": "2026-01-02T00:00:00Z"}, "end"),
        (f"{path}/working", {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
        (path, {"at": tomorrow}, "at"),
        (f"{path}/burn-rate", {"at": "1900-01-01T00:00:00Z"}, "at"),
        (path, {"at": "yesterday"}, "at"),
        (f"{path}/timeline", {"at": tomorrow}, "at"),
    ]
    for url, params, field in cases:
        response = await client.get(url, params=params)
        assert response.status_code == 422, (url, params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.json()["errors"][0]["field"], (params, response.json())


async def test_a_read_as_of_an_instant_caches_no_slice_tally(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    db: Database = app.state.db
    key = f"cache-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    old = now - timedelta(days=10)  # a settled day: an evaluation caches its slice tally
    sliced = {"target": 0.9, "budgeting_method": "timeslices", "timeslice_seconds": 60, "timeslice_target": 0.99,
              "window": {"kind": "rolling", "duration": "14d"}}  # fmt: skip
    objective_id = await agreed(app, key, sliced, effective_from=now - timedelta(days=20))
    async with db.session() as session:  # stored when it was on time, ten days ago
        batch = decode_batch(json.dumps([point(key, old, 99, 100)]).encode(), ndjson=False)
        limits = service.IngestLimits(max_lateness=timedelta(days=7), max_future=timedelta(minutes=5))
        assert await service.ingest_batch(session, tenant="acme", batch=batch, limits=limits, now=old) == 1

    async def cached() -> int:
        async with db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(SliceTally)) or 0)

    working = await read(client, f"/v1/objectives/{objective_id}/working", at=now)
    then = await read(client, f"/v1/objectives/{objective_id}", at=now)
    assert (working["good"], working["total"], then["good"], then["total"]) == (1, 1, 1, 1)
    assert await cached() == 0
    assert (await client.post(f"/v1/objectives/{objective_id}/evaluate")).json()["total"] == 1
    assert await cached() > 0  # an evaluation caches the settled days: a read that did would have been seen


async def test_budget_figures_read_as_clean_decimals_on_every_read(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """1 - 0.999 in binary is 0.0010000000000000009: each read presents it as /working does, to 15 digits."""
    app, client = app_client
    key = f"noise-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert (
        await client.post("/v1/measurements", json=[point(key, now - timedelta(minutes=3), 950, 1000)])
    ).status_code == 202
    objective_id = await agreed(app, key, {"target": 0.999, "window": DAILY}, effective_from=now - timedelta(days=2))
    path = f"/v1/objectives/{objective_id}"
    clean = {"total": 0.001, "consumed": 0.05, "remaining": -0.049, "remaining_ratio": -49.0}
    evaluated = await client.post(f"{path}/evaluate")
    assert evaluated.status_code == 200 and evaluated.json()["budget"] == clean, evaluated.text
    assert (await read(client, path))["budget"] == clean
    assert (await read(client, path, at=now))["budget"] == clean
    assert {b["burn_rate"] for b in (await read(client, path))["burn_rates"]} <= {50.0, None}
    replayed = await read(client, f"{path}/replay", **{"from": now - timedelta(hours=1), "to": now, "step": "1h"})
    assert replayed["steps"][-1]["budget_remaining_ratio"] == -49.0
    assert (await read(client, f"{path}/burn-rate", lookback="1h", at=now))["burn_rate"] == 50.0
    working = await read(client, f"{path}/working", at=now)
    assert working["budget"]["remaining_ratio"] == -49.0
