"""Tiers stored before the one target shape are carried over by the migration, their meaning kept."""

from __future__ import annotations

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_shared.migrations import upgrade
from slm_shared.testing.app_client import running_app
from slm_shared.testing.legacy_rows import insert_rows
from slm_shared.testing.pytest_plugin import make_token

WINDOW = {"kind": "rolling", "duration": "28d", "timezone": "UTC"}


async def test_stored_targets_become_target_op_value(settings: Settings) -> None:
    await upgrade("slm_catalog", settings.database_url, "0001")
    service = {"id": "svc-1", "tenant": "acme", "key": "search", "name": "Search", "lifecycle": "live", "tags": []}
    await insert_rows(settings.database_url, "services", [service])
    legacy_targets = [
        {"indicator": "latency", "indicator_kind": "threshold", "objective": 0.95, "comparison": "<=",
         "threshold": 300.0, "window": WINDOW, "budgeting_method": "occurrences"},
        {"indicator": "availability", "indicator_kind": "ratio", "objective": 0.999, "comparison": ">=",
         "threshold": None, "window": WINDOW, "budgeting_method": "occurrences"},
    ]  # fmt: skip
    offering = {
        "id": "off-1",
        "tenant": "acme",
        "service_id": "svc-1",
        "series_id": "off-1",
        "name": "Gold",
        "description": "",
        "version": 1,
        "revision": 1,
        "status": "published",
        "price_period": "month",
        "targets": legacy_targets,
        "ticket_targets": [],
        "service_credits": [],
    }
    await insert_rows(settings.database_url, "offerings", [offering])

    async with running_app(build_app(settings), token=make_token("acme")) as client:
        found = await client.get("/v1/offerings/off-1")
        assert found.status_code == 200, found.text
        latency, availability = found.json()["targets"]
        assert (latency["op"], latency["value"], latency["target"]) == ("lte", 300.0, 0.95)
        assert (availability["op"], availability["value"], availability["target"]) == (None, None, 0.999)
        assert "objective" not in latency and "comparison" not in latency


async def test_an_export_of_the_first_shape_still_imports(settings: Settings) -> None:
    legacy = {
        "services": [
            {
                "key": "search",
                "name": "Search",
                "offerings": [
                    {
                        "name": "Gold",
                        "targets": [
                            {"indicator": "latency", "indicator_kind": "threshold", "objective": 0.95,
                             "comparison": "<=", "threshold": 300, "window": WINDOW},
                        ],
                    }
                ],
            }
        ]
    }  # fmt: skip
    async with running_app(build_app(settings), token=make_token("acme")) as client:
        imported = await client.post("/v1/import", json=legacy)
        assert imported.status_code == 201, imported.text
        document = (await client.get("/v1/export", params={"format": "json"})).json()
        [target] = document["services"][0]["offerings"][0]["targets"]
        assert (target["op"], target["value"], target["target"]) == ("lte", 300, 0.95)
