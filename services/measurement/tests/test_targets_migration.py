"""Objectives stored before the one target shape are carried over by the migration, their meaning kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_shared.migrations import upgrade
from slm_shared.testing.app_client import running_app
from slm_shared.testing.legacy_rows import insert_rows
from slm_shared.testing.pytest_plugin import make_token

INGEST = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}


async def test_a_stored_latency_objective_keeps_its_meaning(settings: Settings) -> None:
    await upgrade("slm_measurement", settings.database_url, "0001")
    legacy = {
        "id": "row-1",
        "tenant": "acme",
        "agreement_id": "agr-1",
        "agreement_version": 1,
        "agreement_kind": "SLA",
        "objective_id": "fast",
        "service_key": "checkout",
        "indicator": "latency",
        "indicator_kind": "threshold",
        "objective": 0.95,
        "comparison": "<=",
        "threshold": 500.0,
        "window_kind": "rolling",
        "window_duration": "1d",
        "window_timezone": "UTC",
        "budgeting_method": "occurrences",
        "maintenance_windows": [],
        "details": {},
        "firing_alerts": [],
        "active": True,
        "ended": False,
        "status": "breached",
        "effective_from": datetime.now(UTC) - timedelta(days=1),
    }
    ratio = {**legacy, "id": "row-2", "objective_id": "up", "indicator": "availability", "indicator_kind": "ratio"}
    ratio.update(comparison=">=", threshold=None, objective=0.99)
    await insert_rows(settings.database_url, "objectives", [legacy, ratio])

    app = build_app(settings.model_copy(update={"run_workers": False}))  # starting migrates to the newest schema
    async with running_app(app, token=make_token("acme")) as client:
        fast = (await client.get("/v1/objectives/fast")).json()
        assert (fast["op"], fast["value"], fast["target"]) == ("lte", 500.0, 0.95)
        up = (await client.get("/v1/objectives/up")).json()
        assert (up["op"], up["value"], up["target"]) == (None, None, 0.99)

        stamp = (datetime.now(UTC) - timedelta(minutes=2)).timestamp()
        values = [120.0] * 9978 + [900.0] * 22
        batch = {
            "series": [{"service": "checkout", "indicator": "latency", "timestamps": [stamp] * 10000, "values": values}]
        }
        assert (await client.post("/v1/measurements", json=batch, headers=INGEST)).status_code == 202
        judged = (await client.post("/v1/objectives/fast/evaluate")).json()
        assert judged["attainment"] == pytest.approx(0.9978) and judged["status"] == "healthy"
