"""Requirement matching: ranked tiers, or which requirement no tier meets and by how much, each in its own unit."""

from __future__ import annotations

import httpx
from conftest import CUSTOMER, new_service, published_tier, tier

from slm_catalog.matching.match import OfferedTier, tier_gaps
from slm_catalog.matching.schemas import Requirement

LATENCY = {
    "indicator": "latency",
    "indicator_kind": "threshold",
    "op": "lte",
    "value": 300,
    "target": 0.95,
    "window": {"kind": "rolling", "duration": "28d"},
}
OFFICE_HOURS = {
    "timezone": "Europe/Lisbon",
    "hours": [{"day": d, "start": "08:00", "end": "20:00"} for d in ("mon", "tue", "wed", "thu", "fri")],
}


def test_gaps_say_how_far_short_each_in_its_own_unit() -> None:
    offered = OfferedTier(
        targets=[LATENCY],
        price={"amount": "1200", "currency": "EUR", "period": "quarter"},
        units={"latency": "ms"},
    )
    requirement = Requirement.model_validate(
        {
            "targets": [{"indicator": "latency", "target": 0.99, "op": "lte", "value": 200}],
            "max_price": {"amount": "300", "currency": "EUR"},
        }
    )
    gaps = {gap.requirement: (gap.shortfall, gap.unit) for gap in tier_gaps(requirement, offered)}
    # 300 ms offered against 200 ms wanted: 100 ms short; 95% against 99%: 0.04 short; 400/month against 300.
    assert gaps == {
        "targets.0.value": (100.0, "ms"),
        "targets.0.target": (0.04, "share"),
        "max_price": (100.0, "EUR/month"),
    }
    looser = Requirement.model_validate({"targets": [{"indicator": "latency", "target": 0.9, "value": 250}]})
    assert [(g.requirement, g.shortfall, g.unit) for g in tier_gaps(looser, offered)] == [
        ("targets.0.value", 50.0, "ms")
    ]
    met = Requirement.model_validate({"targets": [{"indicator": "latency", "target": 0.95, "op": "lte", "value": 500}]})
    assert tier_gaps(met, offered) == []


async def _latency_tier(client: httpx.AsyncClient, service_id: object, name: str, amount: str, ms: float, share: float):
    body = tier(name, amount, 0.99)
    body["targets"] = [{**LATENCY, "value": ms, "target": share}]
    return await published_tier(client, service_id, body)  # type: ignore[arg-type]


async def test_thresholds_compared_with_thresholds_and_shares_with_shares(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "search")
    fast = await _latency_tier(client, service["id"], "Fast", "900", 200, 0.95)
    steady = await _latency_tier(client, service["id"], "Steady", "500", 400, 0.999)

    wanted = {"targets": [{"indicator": "latency", "op": "lte", "value": 250, "target": 0.99}]}
    result = (await client.post("/v1/requirements/match", json=wanted)).json()
    assert result["outcome"] == "customer_specific_service"
    by_tier = {
        c["tier"]["name"]: {g["requirement"]: (g["shortfall"], g["unit"]) for g in c["gaps"]} for c in result["closest"]
    }
    # Fast: 200 ms meets 250 ms, 95% is 0.04 short of 99%. Steady: 99.9% meets, 400 ms is 150 ms over 250 ms.
    assert by_tier == {"Fast": {"targets.0.target": (0.04, "share")}, "Steady": {"targets.0.value": (150.0, "ms")}}
    assert [c["tier"]["name"] for c in result["closest"]] == [
        "Steady",
        "Fast",
    ]  # one requirement missed each: cheaper first
    unmet = [(u["requirement"], u["shortfall"], u["unit"], u["closest_offering_id"]) for u in result["unmet"]]
    # Both miss by one part; the closer one misses no share (0 < 0.04), so Steady is named, in ms.
    assert unmet == [("targets.0.value", 150.0, "ms", steady["id"])]

    both = {"targets": [{"indicator": "latency", "op": "lte", "value": 450, "target": 0.95}]}
    ranked = (await client.post("/v1/requirements/match", json=both)).json()
    assert [m["tier"]["offering_id"] for m in ranked["matches"]] == [steady["id"], fast["id"]]

    bad = {"targets": [{"indicator": "latency", "op": "below", "value": 250, "target": 0.99}]}
    refused = await client.post("/v1/requirements/match", json=bad)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "targets.0.op"
    no_value = {"targets": [{"indicator": "latency", "op": "lte", "target": 0.99}]}
    refused = await client.post("/v1/requirements/match", json=no_value)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "targets.0.value"


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
        "targets": [{"indicator": "availability", "target": 0.999}],
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
        "targets": [{"indicator": "availability", "target": 0.9999}],
        "ticket_targets": [{"priority": "P1", "response_seconds": 600}],
        "max_price": {"amount": "2500", "currency": "EUR"},
    }
    result = (await client.post("/v1/requirements/match", json=too_much)).json()
    assert result["outcome"] == "customer_specific_service" and result["needs_customer_specific_service"]
    assert result["matches"] == []
    unmet = {item["requirement"]: item for item in result["unmet"]}
    assert set(unmet) == {"targets.0.target", "ticket_targets.0.response_seconds"}
    assert unmet["targets.0.target"]["closest_offering_id"] == gold["id"]
    assert abs(unmet["targets.0.target"]["shortfall"] - 0.0004) < 1e-9 and unmet["targets.0.target"]["unit"] == "share"
    assert unmet["ticket_targets.0.response_seconds"]["shortfall"] == 300
    assert [c["tier"]["name"] for c in result["closest"]] == ["Bronze", "Silver", "Gold"]
    assert all(c["gaps"] and not c["meets"] for c in result["closest"])

    hours = (await client.post("/v1/requirements/match", json={"support_hours": OFFICE_HOURS})).json()
    bronze = next(c for c in hours["matches"] + hours["closest"] if c["tier"]["name"] == "Bronze")
    assert bronze["gaps"][0]["requirement"] == "support_hours" and bronze["gaps"][0]["shortfall"] == 20
    assert hours["outcome"] == "offering" and len(hours["matches"]) == 2

    unknown = await client.post("/v1/requirements/match", json={"targets": [{"indicator": "joy", "target": 0.5}]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "targets.0.indicator"
