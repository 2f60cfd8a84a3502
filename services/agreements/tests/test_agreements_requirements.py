"""An agreement from a requirement starts from the tier chosen, else from the cheapest that meets the most."""

from __future__ import annotations

from typing import Any

import httpx
from agreements_catalog_api import CatalogApi

SERVICE = {"key": "payments", "name": "P", "type": "business", "lifecycle": "live"}


def candidate(service_id: str, offering_id: str, name: str, price: str, gaps: list[dict[str, Any]]) -> dict[str, Any]:
    tier = {"offering_id": offering_id, "name": name, "version": 1, "monthly_price": price}
    return {"service": {"id": service_id, **SERVICE}, "tier": tier, "meets": not gaps, "gaps": gaps}


def gap(requirement: str, shortfall: float, unit: str) -> dict[str, Any]:
    return {
        "requirement": requirement,
        "message": requirement,
        "wanted": "",
        "offered": "",
        "shortfall": shortfall,
        "unit": unit,
    }


async def test_the_basis_tier_is_the_one_chosen_or_the_cheapest_that_meets_most(
    client: httpx.AsyncClient, seed_offering: Any, parties: dict[str, str], catalog_api: CatalogApi
) -> None:
    bronze = await seed_offering()
    service_id = bronze["service_id"]
    silver = await seed_offering(service_id=service_id)
    gold = await seed_offering(service_id=service_id)
    # Bronze (100/month) misses both wanted targets; Silver (300) and Gold (900) miss one each.
    catalog_api.matches[service_id] = {
        "outcome": "customer_specific_service",
        "needs_customer_specific_service": True,
        "matches": [],
        "unmet": [],
        "closest": [
            candidate(service_id, bronze["offering_id"], "Bronze", "100.00",
                      [gap("targets.0.target", 0.009, "share"), gap("targets.1.value", 200, "ms")]),
            candidate(service_id, silver["offering_id"], "Silver", "300.00", [gap("targets.1.value", 100, "ms")]),
            candidate(service_id, gold["offering_id"], "Gold", "900.00", [gap("targets.0.target", 0.0004, "share")]),
        ],
    }  # fmt: skip
    body = {
        "name": "Retail",
        "consumer_party_id": parties["customer"],
        "requirement": {
            "service_id": service_id,
            "targets": [
                {"indicator": "availability", "target": 0.9999},
                {"indicator": "latency", "op": "lte", "value": 200, "target": 0.95},
            ],
        },
    }
    cheapest_most = await client.post("/v1/agreements/from-requirement", json=body)
    assert cheapest_most.status_code == 201, cheapest_most.text
    assert cheapest_most.json()["offering_id"] == silver["offering_id"]
    latency = next(o for o in cheapest_most.json()["objectives"] if o["indicator"] == "latency")
    assert (latency["op"], latency["value"], latency["target"], latency["customer_specific"]) == (
        "lte",
        200,
        0.95,
        True,
    )

    chosen = await client.post("/v1/agreements/from-requirement", json={**body, "offering_id": gold["offering_id"]})
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["offering_id"] == gold["offering_id"]
    assert chosen.json()["requirement"]["offering_name"] == "Gold"
    availability = next(o for o in chosen.json()["objectives"] if o["indicator"] == "availability")
    assert availability["target"] == 0.9999 and availability["customer_specific"]

    unknown = await client.post("/v1/agreements/from-requirement", json={**body, "offering_id": "not-a-tier"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "offering_id"
