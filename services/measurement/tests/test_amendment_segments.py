"""A window spanning an amendment: each part judged by the terms of the version then in force (worked by hand).

v1 (from the first minute of this month): p <= 300 ms for 99% of requests. v2 (from the middle of the
month so far): p <= 200 ms for 99.9%. Runs on SQLite and PostgreSQL through the public API.

    v1's part: 1,000 requests, 988 at <= 300 ms -> good 988, allowed (1 - 0.99) x 1000 = 10, bad 12
    v2's part: 2,000 requests, 1,999 at <= 200 ms -> good 1999, allowed (1 - 0.999) x 2000 = 2, bad 1
    window:    good 2987 / 3000 = 0.995666..., allowed 12, consumed 13, remaining -1 -> missed
               budget target 1 - 12 / 3000 = 0.996; the 10% credit band below 0.996 applies

Judged by v2 alone (the version in force now), the window counts only what was measured against 200 ms
(1999/2000 = 0.9995 >= 0.999: met, no credit); judged by v2's target over both parts, allowed would be 3
(remaining -10). Either answer fails the assertions below.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from ticket_support import activate, ticket_agreement

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import Objective
from slm_measurement.service import evaluate_due
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
MONTH_START = NOW.replace(day=1, hour=0, minute=0)
MID = (MONTH_START + (NOW - MONTH_START) / 2).replace(second=0, microsecond=0)
PRICE = {"amount": "1000", "currency": "EUR", "period": "month"}
BANDS = [{"below": 0.996, "down_to": 0.99, "credit_percent": "10"}, {"below": 0.99, "credit_percent": "40"}]


@pytest.fixture
async def history_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The API with a lateness limit long enough to load the month so far."""
    app = build_app(settings.model_copy(update={"run_workers": False, "max_lateness_seconds": 62 * 86400}))
    async with running_app(app, token=make_token("acme")) as client:
        yield app, client


def latency(objective_id: str, value: float, target: float) -> dict[str, Any]:
    return {
        "objective_id": objective_id,
        "indicator": "latency",
        "indicator_kind": "threshold",
        "op": "lte",
        "value": value,
        "target": target,
        "window": {"kind": "calendar", "unit": "month"},
    }


def terms(agreement_id: str, key: str, version: int, value: float, target: float, effective_from: datetime) -> Any:
    """The agreement's version `version`: one latency objective, named after the service, with credit bands."""
    return ticket_agreement(
        agreement_id=agreement_id,
        service_key=key,
        party="p",
        version=version,
        objectives=[latency(f"{key}-p", value, target)],
        ticket_targets=[],
        effective_from=effective_from,
        activated_at=effective_from,
        price=PRICE,
        credit_schedule=BANDS,
    )


async def values(client: httpx.AsyncClient, key: str, at: datetime, found: list[float]) -> None:
    series = [{"service": key, "indicator": "latency", "timestamps": [at.timestamp()] * len(found), "values": found}]
    response = await client.post("/v1/measurements", json={"series": series})
    assert response.status_code == 202, response.text


async def test_each_part_of_the_window_is_judged_by_its_own_version(history_client) -> None:  # type: ignore[no-untyped-def]
    assert timedelta(minutes=2) <= MID - MONTH_START, "the test needs two minutes of the month before the amendment"
    app, client = history_client
    key, agreement_id = f"amend-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await activate(app.state.db, terms(agreement_id, key, 1, 300, 0.99, MONTH_START))
    # v1's part: 976 fast, 12 at 250 ms (good under 300, bad under 200), 12 at 400 ms (bad under both).
    await values(client, key, MONTH_START, [150.0] * 976 + [250.0] * 12 + [400.0] * 12)
    await activate(app.state.db, terms(agreement_id, key, 2, 200, 0.999, MID))
    # v2's part: 1,999 fast, one at 250 ms (bad under 200).
    await values(client, key, max(MID, NOW - timedelta(minutes=1)), [150.0] * 1999 + [250.0])

    live = (await client.post(f"/v1/objectives/{key}-p/evaluate")).json()
    assert (live["agreement_version"], live["value"], live["target"]) == (2, 200, 0.999)
    assert (live["good"], live["total"], live["status"]) == (2987, 3000, "breached")
    assert live["budget_target"] == pytest.approx(0.996, abs=1e-12)
    assert live["budget"]["remaining_ratio"] == pytest.approx(-1 / 12, abs=1e-9)  # (12 - 13) / 12

    at_now = (await client.get(f"/v1/objectives/{key}-p", params={"at": NOW.isoformat()})).json()
    assert (at_now["good"], at_now["total"], at_now["status"]) == (2987, 3000, "breached")
    assert at_now["budget"]["remaining_ratio"] == pytest.approx(-1 / 12, abs=1e-9)
    # Before the amendment only v1 was in force: its terms alone (988 / 1000 < 99%).
    before = await client.get(f"/v1/objectives/{key}-p", params={"at": (MID - timedelta(minutes=1)).isoformat()})
    before_found = before.json()
    assert (before_found["agreement_version"], before_found["value"], before_found["target"]) == (1, 300, 0.99)
    assert (before_found["good"], before_found["total"], before_found["budget_target"]) == (988, 1000, None)

    steps = (
        await client.get(
            f"/v1/objectives/{key}-p/replay",
            params={"from": NOW.isoformat(), "to": NOW.isoformat(), "step": "1h"},
        )
    ).json()["steps"]
    assert [(s["agreement_version"], s["good"], s["total"], s["status"]) for s in steps] == [
        (2, 2987, 3000, "breached")
    ]
    assert steps[0]["budget_remaining_ratio"] == pytest.approx(-1 / 12, abs=1e-9)

    # A lookback over the whole month: bad 13 of 3000 against an allowed 12 of 3000 burns at 13/12.
    burn = (await client.get(f"/v1/objectives/{key}-p/burn-rate", params={"lookback": "32d"})).json()
    assert (burn["good"], burn["total"]) == (2987, 3000)
    assert burn["burn_rate"] == pytest.approx(13 / 12, abs=1e-9)  # by v2's target alone: 13/3 (or 1/2 on 200 ms)

    working = (await client.get(f"/v1/objectives/{key}-p/working")).json()
    assert (working["good"], working["total"]) == (2987, 3000)
    budget = working["budget"]
    assert (budget["target"], budget["allowed"], budget["consumed"], budget["remaining"]) == (0.996, 12, 13, -1)
    shown = [
        (v["agreement_version"], v["op"], v["value"], v["target"], v["good"], v["total"], v["allowed"])
        for v in working["versions"]
    ]
    assert shown == [(1, "lte", 300, 0.99, 988, 1000, 10), (2, "lte", 200, 0.999, 1999, 2000, 2)]
    assert datetime.fromisoformat(working["versions"][1]["in_force"][0]["start_utc"]) == MID

    # The evaluation pass (objectives read together) stores the same.
    async with app.state.db.session() as session:
        await session.execute(
            update(Objective).where(Objective.objective_id == f"{key}-p").values(needs_evaluation=True)
        )
    assert await evaluate_due(app.state.db, interval=timedelta(hours=1), limit=100) >= 1
    stored = (await client.get(f"/v1/objectives/{key}-p")).json()
    assert (stored["good"], stored["total"], stored["status"]) == (2987, 3000, "breached")
    assert stored["budget"]["remaining_ratio"] == pytest.approx(-1 / 12, abs=1e-9)

    report = (
        await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": NOW.strftime("%Y-%m")})
    ).json()
    [row] = report["objectives"]
    assert (row["good"], row["total"], row["met"]) == (2987, 3000, False)
    assert row["budget_target"] == pytest.approx(0.996, abs=1e-12)
    assert row["budget_remaining_ratio"] == pytest.approx(-1 / 12, abs=1e-9)
    assert [(v["agreement_version"], v["value"], v["good"], v["total"]) for v in row["versions"]] == [
        (1, 300, 988, 1000),
        (2, 200, 1999, 2000),
    ]
    assert report["credit"]["percent"] == "10"  # 0.99567 is in [0.99, 0.996); judged by v2 alone: 0.9995, no credit


async def test_one_version_in_force_reads_as_before(history_client) -> None:  # type: ignore[no-untyped-def]
    """Nothing is cut when one version's terms judge the window: no segments, no budget target."""
    app, client = history_client
    key, agreement_id = f"single-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await activate(app.state.db, terms(agreement_id, key, 1, 300, 0.99, MONTH_START))
    await values(client, key, MONTH_START, [150.0] * 988 + [400.0] * 12)
    live = (await client.post(f"/v1/objectives/{key}-p/evaluate")).json()
    assert (live["good"], live["total"], live["budget_target"]) == (988, 1000, None)
    working = (await client.get(f"/v1/objectives/{key}-p/working")).json()
    assert working["versions"] is None and working["budget"]["allowed"] == 10


async def test_timeslices_are_judged_by_each_version_s_slice_rule_and_target(history_client) -> None:  # type: ignore[no-untyped-def]
    """1-minute slices. v1: a slice is good at >= 95%, target 50%; v2: good at >= 90%, target 75%.

    v1's part: minutes at 96, 96, 93, 93% -> 2 good slices of 4, allowed (1 - 0.5) x 4 = 2
    v2's part: minutes at 93% x 4 -> 4 good of 4, allowed (1 - 0.75) x 4 = 1
    window: 6 good slices of 8, allowed 3, consumed 2, remaining 1 (a third); budget target 1 - 3/8 = 0.625
    (v2's terms alone: 8 of 8 good, allowed 2; v1's alone: 2 of 8 good).
    """
    app, client = history_client
    key, agreement_id = f"slices-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())

    def sliced(version: int, slice_target: float, target: float, effective_from: datetime) -> Any:
        objective = {
            "objective_id": f"{key}-s",
            "indicator": "availability",
            "target": target,
            "budgeting_method": "timeslices",
            "timeslice_seconds": 60,
            "timeslice_target": slice_target,
            "window": {"kind": "calendar", "unit": "month"},
        }
        return ticket_agreement(
            agreement_id=agreement_id, service_key=key, party="p", version=version, objectives=[objective],
            ticket_targets=[], effective_from=effective_from, activated_at=effective_from,
        )  # fmt: skip

    def minute(at: datetime, good: float) -> dict[str, Any]:
        return {"service": key, "indicator": "availability", "timestamp": at.isoformat(), "good": good, "total": 100}

    await activate(app.state.db, sliced(1, 0.95, 0.5, MONTH_START))
    await activate(app.state.db, sliced(2, 0.90, 0.75, MID))
    points = [minute(MONTH_START + timedelta(minutes=m), g) for m, g in enumerate([96, 96, 93, 93])]
    points += [minute(NOW - timedelta(minutes=m), 93) for m in range(1, 5)]
    assert (await client.post("/v1/measurements", json=points)).status_code == 202

    live = (await client.post(f"/v1/objectives/{key}-s/evaluate")).json()
    assert (live["good"], live["total"], live["status"], live["budget_target"]) == (6, 8, "healthy", 0.625)
    assert live["budget"]["remaining_ratio"] == pytest.approx(1 / 3, abs=1e-9)
    working = (await client.get(f"/v1/objectives/{key}-s/working")).json()
    budget = working["budget"]
    assert (budget["allowed"], budget["consumed"], budget["remaining"]) == (3, 2, 1)
    assert [
        (v["agreement_version"], v["timeslice_target"], v["target"], v["good"], v["total"], v["allowed"])
        for v in working["versions"]
    ] == [(1, 0.95, 0.5, 2, 4, 2), (2, 0.9, 0.75, 4, 4, 1)]
    at_now = (await client.get(f"/v1/objectives/{key}-s", params={"at": NOW.isoformat()})).json()
    assert (at_now["good"], at_now["total"], at_now["budget_target"]) == (6, 8, 0.625)
