"""Bulk export and import: the catalogue survives a YAML or JSON round trip unchanged."""

from __future__ import annotations

import httpx
import yaml
from conftest import auth, new_service, published_tier, tier


async def seed(client: httpx.AsyncClient) -> None:
    await client.post("/v1/indicators", json={"key": "orders_ok", "name": "Orders", "kind": "ratio", "unit": "%"})
    await client.post(
        "/v1/calendars",
        json={
            "key": "office",
            "name": "Office",
            "timezone": "Europe/Lisbon",
            "hours": [{"day": "mon", "start": "09:00", "end": "17:00"}],
            "holidays": [{"date": "2025-12-24", "name": "Christmas Eve"}],
            "country": "PT",
        },
    )
    shop = await new_service(client, "shop", tags=["web"], configuration_items=[{"type": "app", "external_id": "CI1"}])
    db = await new_service(client, "db", type="technical")
    await client.post(
        f"/v1/services/{shop['id']}/dependencies", json={"supporting_service_id": db["id"], "description": "orders"}
    )
    gold_body = tier(
        "Gold", "100", 0.999, support_calendar="office", service_credits=[{"below": 0.999, "credit_percent": 5}]
    )
    gold_body["targets"].append(
        {"indicator": "orders_ok", "target": 0.99, "window": {"kind": "calendar", "unit": "month"}}
    )  # type: ignore[attr-defined]
    gold = await published_tier(client, shop["id"], gold_body)
    assert (await client.patch(f"/v1/offerings/{gold['id']}", json={"description": "v2"})).status_code == 201
    await client.post(f"/v1/services/{shop['id']}/offerings", json=tier("Bronze", "10", 0.99))


async def test_round_trip_yaml_and_json(client: httpx.AsyncClient) -> None:
    await seed(client)
    exported = await client.get("/v1/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    assert [s["key"] for s in document["services"]] == ["db", "shop"]
    assert [(o["name"], o["version"], o["status"]) for o in document["services"][1]["offerings"]] == [
        ("Bronze", 1, "draft"),
        ("Gold", 1, "published"),
        ("Gold", 2, "draft"),
    ]

    other = auth("initech")
    imported = await client.post(
        "/v1/import", content=exported.content, headers={**other, "content-type": "application/yaml"}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"indicators": 1, "calendars": 1, "services": 2, "dependencies": 1, "offerings": 3}
    again = await client.get("/v1/export", headers=other)
    assert again.text == exported.text

    as_json = (await client.get("/v1/export", params={"format": "json"})).json()
    third = auth("umbrella")
    assert (await client.post("/v1/import", json=as_json, headers=third)).status_code == 201
    assert (await client.get("/v1/export", params={"format": "json"}, headers=third)).json() == as_json

    shop = (await client.get("/v1/services", params={"q": "shop"}, headers=other)).json()["items"][0]
    versions = (await client.get(f"/v1/services/{shop['id']}/offerings", headers=other)).json()["items"]
    gold_v2 = next(o for o in versions if o["name"] == "Gold" and o["version"] == 2)
    history = (await client.get(f"/v1/offerings/{gold_v2['id']}/versions", headers=other)).json()
    assert [v["version"] for v in history] == [1, 2]
    supporting = (await client.get(f"/v1/services/{shop['id']}/supporting", headers=other)).json()
    assert [s["key"] for s in supporting] == ["db"]


async def test_import_refuses_conflicts_and_bad_documents(client: httpx.AsyncClient) -> None:
    await seed(client)
    exported = await client.get("/v1/export", params={"format": "json"})
    clash = await client.post("/v1/import", content=exported.content, headers={"content-type": "application/json"})
    assert clash.status_code == 409
    assert {e["field"] for e in clash.json()["errors"]} >= {"services.0.key", "indicators.0.key", "calendars.0.key"}

    other = auth("hooli")
    broken = await client.post(
        "/v1/import", content=b"services: [: nope", headers={**other, "content-type": "application/yaml"}
    )
    assert broken.status_code == 400 and broken.headers["content-type"] == "application/problem+json"
    document = exported.json()
    document["services"][1]["offerings"][0]["targets"][0]["indicator"] = "missing"
    bad = await client.post("/v1/import", json=document, headers=other)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "services.1.offerings.0.targets.0.indicator"
    document["services"][0]["key"] = "Bad Key"
    bad = await client.post("/v1/import", json=document, headers=other)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "services.0.key"
    assert (await client.get("/v1/services", headers=other)).json()["total"] == 0
    cyclic = {
        "services": [
            {"key": "a", "name": "A", "depends_on": [{"service": "b"}]},
            {"key": "b", "name": "B", "depends_on": [{"service": "a"}]},
        ]
    }
    refused = await client.post("/v1/import", json=cyclic, headers=other)
    assert refused.status_code == 409 and "b -> a -> b" in refused.json()["detail"]
