"""Agreement objectives stored before the one target shape are carried over by the migration, meaning kept."""

from __future__ import annotations

from datetime import UTC, datetime

from slm_agreements.config import Settings
from slm_agreements.main import build_app
from slm_shared.migrations import upgrade
from slm_shared.testing.app_client import running_app
from slm_shared.testing.legacy_rows import insert_rows
from slm_shared.testing.pytest_plugin import make_token

MONTH = {"kind": "calendar", "unit": "month", "timezone": "UTC"}


async def test_stored_objectives_become_target_op_value(settings: Settings) -> None:
    url = settings.database_url
    await upgrade("slm_agreements", url, "0001")
    now = datetime.now(UTC)
    await insert_rows(url, "parties", [{"id": "party-1", "tenant": "acme", "name": "Acme", "kind": "customer"}])
    legacy_standard = [{"indicator": "latency", "indicator_kind": "threshold", "objective": 0.95, "comparison": "<",
                        "threshold": 250.0, "window": MONTH}]  # fmt: skip
    agreement = {"id": "agr-1", "tenant": "acme", "kind": "SLA", "name": "Gold", "service_id": "svc-1",
                 "service_key": "search", "consumer_party_id": "party-1", "state": "draft", "version": 1,
                 "standard_targets": legacy_standard, "effective_from": now, "created_by": "ana",
                 "review_cycle": "quarterly"}  # fmt: skip
    await insert_rows(url, "agreements", [agreement])
    version = {"agreement_id": "agr-1", "version": 1, "tenant": "acme", "status": "draft", "created_by": "ana",
               "effective_from": now, "timezone": "UTC", "review_cycle": "quarterly", "price": None}  # fmt: skip
    await insert_rows(url, "agreement_versions", [version])
    common = {"agreement_version": 1, "tenant": "acme", "agreement_id": "agr-1", "window": MONTH,
              "budgeting_method": "occurrences", "customer_specific": False}  # fmt: skip
    objectives = [
        {**common, "id": "o-latency", "position": 0, "indicator": "latency", "indicator_kind": "threshold",
         "objective": 0.95, "comparison": "<", "threshold": 250.0},
        {**common, "id": "o-up", "position": 1, "indicator": "availability", "indicator_kind": "ratio",
         "objective": 0.999, "comparison": ">=", "threshold": None},
    ]  # fmt: skip
    await insert_rows(url, "agreement_objectives", objectives)

    async with running_app(build_app(settings), token=make_token("acme", ("manager",))) as client:
        found = await client.get("/v1/agreements/agr-1")
        assert found.status_code == 200, found.text
        by_id = {o["id"]: o for o in found.json()["objectives"]}
        latency, up = by_id["o-latency"], by_id["o-up"]
        assert (latency["op"], latency["value"], latency["target"]) == ("lt", 250.0, 0.95)
        assert (up["op"], up["value"], up["target"]) == (None, None, 0.999)
