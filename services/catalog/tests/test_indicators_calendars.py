"""Indicators (standard and defined), measurable targets, calendars and business time through the API."""

from __future__ import annotations

import httpx
from conftest import CUSTOMER, new_service, tier

OFFICE = {
    "key": "office",
    "name": "Lisbon office hours",
    "timezone": "Europe/Lisbon",
    "hours": [{"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")],
    "holidays": [{"date": "2025-01-07", "name": "Company day"}],
    "country": "PT",
}


async def test_standard_and_defined_indicators(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/indicators")).json()
    kinds = {item["key"]: item["kind"] for item in listed["items"]}
    assert kinds["availability"] == "ratio" and kinds["latency"] == "threshold"
    assert kinds["uptime"] == "timeslice" and kinds["resolution_time"] == "ticket_time"
    latency = (await client.get("/v1/indicators/latency")).json()
    assert latency["builtin"] and latency["measurement"]["fields"] == ["value"]

    created = await client.post(
        "/v1/indicators", json={"key": "checkout_errors", "name": "Checkout success", "kind": "ratio", "unit": "%"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["measurement"]["fields"] == ["good", "total"]
    assert (
        await client.post("/v1/indicators", json={"key": "latency", "name": "x", "kind": "ratio"})
    ).status_code == 409
    no_clock = await client.post("/v1/indicators", json={"key": "ttr", "name": "x", "kind": "ticket_time"})
    assert no_clock.status_code == 422 and no_clock.json()["errors"][0]["field"] == "clock"
    assert (await client.patch("/v1/indicators/latency", json={"name": "x"})).status_code == 409
    renamed = await client.patch("/v1/indicators/checkout_errors", json={"name": "Checkout"})
    assert renamed.json()["name"] == "Checkout" and renamed.json()["version"] == 2
    assert (await client.get("/v1/indicators", headers=CUSTOMER)).status_code == 200
    assert (
        await client.post("/v1/indicators", json={"key": "c", "name": "c", "kind": "ratio"}, headers=CUSTOMER)
    ).status_code == 403

    service = await new_service(client, "shop")
    used = tier("Gold", "10", 0.99)
    used["targets"][0]["indicator"] = "checkout_errors"  # type: ignore[index]
    assert (await client.post(f"/v1/services/{service['id']}/offerings", json=used)).status_code == 201
    assert (await client.delete("/v1/indicators/checkout_errors")).status_code == 409


async def test_targets_must_be_measurable(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "api")
    unknown = tier("Gold", "10", 0.99)
    unknown["targets"][0]["indicator"] = "happiness"  # type: ignore[index]
    refused = await client.post(f"/v1/services/{service['id']}/offerings", json=unknown)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "targets.0.indicator"

    body = tier("Gold", "10", 0.99)
    body["targets"] = [
        {"indicator": "availability", "target": 0.99, "window": {"kind": "rolling", "duration": "28d"}},
        {"indicator": "latency", "target": 0.95, "window": {"kind": "rolling", "duration": "forever"}},
        {"indicator": "uptime", "target": 0.99, "window": {"kind": "calendar", "timezone": "Mars/Base"}},
        {
            "indicator": "availability",
            "indicator_kind": "threshold",
            "target": 0.9,
            "op": "lte",
            "value": 1,
            "window": {"kind": "rolling", "duration": "7d"},
        },
    ]
    refused = await client.post(f"/v1/services/{service['id']}/offerings", json=body)
    fields = {error["field"] for error in refused.json()["errors"]}
    assert fields == {
        "targets.1.op",
        "targets.1.value",
        "targets.1.window.duration",
        "targets.2.window.unit",
        "targets.2.window.timezone",
        "targets.2.timeslice_seconds",
        "targets.2.timeslice_target",
        "targets.3.indicator_kind",
    }

    body["targets"] = [
        {
            "indicator": "latency",
            "target": 0.95,
            "op": "lte",
            "value": 300,
            "window": {"kind": "rolling", "duration": "28d"},
        },
    ]
    huge = {**body, "targets": [{**body["targets"][0], "value": 1e308}]}
    refused = await client.post(f"/v1/services/{service['id']}/offerings", json=huge)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "targets.0.value", refused.text
    accepted = await client.post(f"/v1/services/{service['id']}/offerings", json=body)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["targets"][0]["indicator_kind"] == "threshold"


async def test_calendars_and_business_time(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/calendars", json=OFFICE)
    assert created.status_code == 201, created.text
    assert {c["key"] for c in (await client.get("/v1/calendars")).json()["items"]} == {"24x7", "office"}

    # Mon 6 Jan 16:00 -> Wed 8 Jan 10:00 Lisbon: 1 h Monday, Tuesday is a company holiday, 1 h Wednesday.
    counted = await client.post(
        "/v1/calendars/office/business-time",
        json={"start": "2025-01-06T16:00:00+00:00", "end": "2025-01-08T10:00:00+00:00"},
    )
    assert counted.json()["hours"] == 2
    # 25 April (Freedom Day, a Portuguese public holiday) is skipped.
    deadline = await client.post(
        "/v1/calendars/office/deadline", json={"start": "2025-04-24T16:00:00+01:00", "seconds": 7200}
    )
    assert deadline.json()["deadline"].startswith("2025-04-28T09:00:00")

    bad_zone = await client.post("/v1/calendars", json={**OFFICE, "key": "mars", "timezone": "Mars/Base"})
    assert bad_zone.status_code == 422 and bad_zone.json()["errors"][0]["field"] == "timezone"
    bad_country = await client.post("/v1/calendars", json={**OFFICE, "key": "nowhere", "country": "XQ"})
    assert bad_country.status_code == 422 and bad_country.json()["errors"][0]["field"] == "country"
    bad_hours = await client.post(
        "/v1/calendars",
        json={**OFFICE, "key": "backwards", "hours": [{"day": "mon", "start": "18:00", "end": "09:00"}]},
    )
    assert bad_hours.status_code == 422 and bad_hours.json()["errors"][0]["field"].startswith("hours.0")
    naive = await client.post(
        "/v1/calendars/office/business-time", json={"start": "2025-01-06T16:00", "end": "2025-01-07T16:00"}
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "start"

    service = await new_service(client, "desk")
    missing = await client.post(
        f"/v1/services/{service['id']}/offerings", json=tier("Gold", "1", 0.99, support_calendar="weekends")
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "support_calendar"
    uses = await client.post(
        f"/v1/services/{service['id']}/offerings", json=tier("Gold", "1", 0.99, support_calendar="office")
    )
    assert uses.status_code == 201
    assert (await client.delete("/v1/calendars/office")).status_code == 409

    etag = (await client.get("/v1/calendars/office")).headers["ETag"]
    replaced = await client.put(
        "/v1/calendars/office",
        json={k: v for k, v in OFFICE.items() if k != "key"} | {"country": None},
        headers={"If-Match": etag},
    )
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    stale = await client.put(
        "/v1/calendars/office", json={k: v for k, v in OFFICE.items() if k != "key"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
