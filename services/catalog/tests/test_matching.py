"""Requirement matching: ranked tiers, or which requirement no tier meets and by how much."""

from __future__ import annotations

import httpx
from conftest import CUSTOMER, new_service, published_tier, tier

from slm_catalog.matching.match import OfferedTier, tier_gaps
from slm_catalog.matching.schemas import Requirement

LATENCY = {
    "indicator": "latency",
    "objective": 0.95,
    "comparison": "<=",
    "threshold": 300,
    "window": {"kind": "rolling", "duration": "28d"},
}
OFFICE_HOURS = {
    "timezone": "Europe/Lisbon",
    "hours": [{"day": d, "start": "08:00", "end": "20:00"} for d in ("mon", "tue", "wed", "thu", "fri")],
}


def test_gaps_say_how_far_short() -> None:
    tier_offered = OfferedTier(
        targets=[{**LATENCY, "indicator_kind": "threshold"}],
        price={"amount": "1200", "currency": "EUR", "period": "quarter"},
    )
    requirement = Requirement.model_validate(
        {
            "targets": [{"indicator": "latency", "objective": 0.99, "threshold": 200}],
            "max_price": {"amount": "300", "currency": "EUR"},
        }
    )
    gaps = {gap.requirement: gap.shortfall for gap in tier_gaps(requirement, tier_offered)}
    assert gaps == {"targets.0": 0.04, "max_price": 100.0}
    looser = Requirement.model_validate({"targets": [{"indicator": "latency", "objective": 0.9, "threshold": 250}]})
    assert [(g.requirement, g.shortfall) for g in tier_gaps(looser, tier_offered)] == [("targets.0.threshold", 50.0)]


async def test_match_ranks_tiers_by_price_or_names_the_gap(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "hosting")
    office = {"key": "office", "name": "Office", **OFFICE_HOURS}
    office["hours"] = [{"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")]
    assert (await client.post("/v1/calendars", json=office)).status_code == 201
    await published_tier(client, service["id"], tier("Bronze", "300", 0.99, support_calendar="office"))
    silver = await published_tier(client, service["id"], tier("Silver", "900", 0.999))
    gold = await published_tier(
        client,
        service["id"],
        tier("Gold", "2000", 0.9995, ticket_targets=[{"priority": "P1", "response_seconds": 900}]),
    )

    wanted = {
        "targets": [{"indicator": "availability", "objective": 0.999}],
        "support_hours": OFFICE_HOURS,
        "max_price": {"amount": "2500", "currency": "EUR"},
    }
    matched = await client.post("/v1/requirements/match", json=wanted, headers=CUSTOMER)
    assert matched.status_code == 200, matched.text
    result = matched.json()
    assert result["outcome"] == "offering" and not result["needs_customer_specific_service"]
    assert [m["tier"]["offering_id"] for m in result["matches"]] == [silver["id"], gold["id"]]

    too_much = {
        "service_key": "hosting",
        "targets": [{"indicator": "availability", "objective": 0.9999}],
        "ticket_targets": [{"priority": "P1", "response_seconds": 600}],
        "max_price": {"amount": "2500", "currency": "EUR"},
    }
    result = (await client.post("/v1/requirements/match", json=too_much)).json()
    assert result["outcome"] == "customer_specific_service" and result["needs_customer_specific_service"]
    assert result["matches"] == []
    unmet = {item["requirement"]: item for item in result["unmet"]}
    assert set(unmet) == {"targets.0", "ticket_targets.0.response_seconds"}
    assert unmet["targets.0"]["closest_offering_id"] == gold["id"]
    assert abs(unmet["targets.0"]["shortfall"] - 0.0004) < 1e-9
    assert unmet["ticket_targets.0.response_seconds"]["shortfall"] == 300
    assert [c["tier"]["name"] for c in result["closest"]] == ["Bronze", "Silver", "Gold"]
    assert all(c["gaps"] and not c["meets"] for c in result["closest"])

    hours = (await client.post("/v1/requirements/match", json={"support_hours": OFFICE_HOURS})).json()
    bronze = next(c for c in hours["matches"] + hours["closest"] if c["tier"]["name"] == "Bronze")
    assert bronze["gaps"][0]["requirement"] == "support_hours" and bronze["gaps"][0]["shortfall"] == 20
    assert hours["outcome"] == "offering" and len(hours["matches"]) == 2

    unknown = await client.post("/v1/requirements/match", json={"targets": [{"indicator": "joy", "objective": 0.5}]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "targets.0.indicator"
