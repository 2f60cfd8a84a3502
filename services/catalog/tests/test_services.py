"""Services: filters, sorting, lifecycle, configuration items, roles and field-naming errors."""

from __future__ import annotations

import httpx
from conftest import CUSTOMER, INGEST, MANAGER, auth, new_service, tier


async def test_filters_sort_and_pagination(client: httpx.AsyncClient) -> None:
    await new_service(client, "payments", type="business", tags=["pci", "gold"], owner_team="Payments")
    await new_service(client, "ledger", type="technical", tags=["pci"], owner_team="Core", lifecycle="pipeline")
    await new_service(client, "search", type="business", description="Full text search", owner_team="Core")

    async def keys(**params: object) -> list[str]:
        page = await client.get("/v1/services", params=params)
        assert page.status_code == 200, page.text
        return [item["key"] for item in page.json()["items"]]

    assert await keys() == ["ledger", "payments", "search"]
    assert await keys(sort="-key") == ["search", "payments", "ledger"]
    assert await keys(type="technical") == ["ledger"]
    assert await keys(lifecycle="pipeline") == ["ledger"]
    assert await keys(tag="pci") == ["ledger", "payments"]
    assert await keys(tag="gold") == ["payments"]
    assert await keys(owner="core") == ["ledger", "search"]
    assert await keys(q="full text") == ["search"]
    page = (await client.get("/v1/services", params={"limit": 2, "offset": 2})).json()
    assert page["total"] == 3 and [i["key"] for i in page["items"]] == ["search"]


async def test_configuration_items_and_owner_are_kept(client: httpx.AsyncClient) -> None:
    created = await new_service(
        client,
        "crm",
        owner_team="Sales IT",
        owner_contact="sales-it@example.com",
        configuration_items=[{"type": "database", "external_id": "CI0012", "source": "servicenow"}],
    )
    read = (await client.get(f"/v1/services/{created['id']}")).json()
    assert read["configuration_items"][0]["external_id"] == "CI0012"
    assert read["owner_contact"] == "sales-it@example.com"


async def test_lifecycle_moves_forward_only_and_retired_takes_no_offerings(client: httpx.AsyncClient) -> None:
    created = await new_service(client, "fax", lifecycle="pipeline")
    assert (await client.patch(f"/v1/services/{created['id']}", json={"lifecycle": "live"})).status_code == 200
    back = await client.patch(f"/v1/services/{created['id']}", json={"lifecycle": "pipeline"})
    assert back.status_code == 409 and back.json()["errors"][0]["field"] == "lifecycle"
    retired = await client.post(f"/v1/services/{created['id']}/retire")
    assert retired.status_code == 200 and retired.json()["lifecycle"] == "retired"
    again = await client.patch(f"/v1/services/{created['id']}", json={"lifecycle": "live"})
    assert again.status_code == 409
    refused = await client.post(f"/v1/services/{created['id']}/offerings", json=tier("Gold", "10", 0.99))
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"


async def test_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    bad = await client.post("/v1/services", json={"key": "Not A Slug", "name": "x"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["key"]
    ci = await client.post("/v1/services", json={"key": "ok", "name": "x", "configuration_items": [{"type": "db"}]})
    assert ci.json()["errors"][0]["field"] == "configuration_items.0.external_id"
    broken = await client.post("/v1/services", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    await new_service(client, "dup")
    duplicate = await client.post("/v1/services", json={"key": "dup", "name": "Again"})
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "key"
    null_name = await client.patch(f"/v1/services/{(await new_service(client, 'nn'))['id']}", json={"name": None})
    assert null_name.status_code == 422 and null_name.json()["errors"][0]["field"] == "name"


async def test_roles(client: httpx.AsyncClient) -> None:
    live = await new_service(client, "live-one")
    hidden = await new_service(client, "planned", lifecycle="pipeline")
    listed = (await client.get("/v1/services", headers=CUSTOMER)).json()
    assert [item["key"] for item in listed["items"]] == ["live-one"]
    assert (await client.get("/v1/services", params={"lifecycle": "pipeline"}, headers=CUSTOMER)).json()["total"] == 0
    assert (await client.get(f"/v1/services/{hidden['id']}", headers=CUSTOMER)).status_code == 404
    assert (await client.get(f"/v1/services/{live['id']}", headers=CUSTOMER)).status_code == 200
    assert (await client.post("/v1/services", json={"key": "x", "name": "x"}, headers=CUSTOMER)).status_code == 403
    assert (await client.patch(f"/v1/services/{live['id']}", json={"name": "y"}, headers=CUSTOMER)).status_code == 403
    for path in ("/v1/services", "/v1/indicators", "/v1/calendars", "/v1/catalog", "/v1/offerings"):
        assert (await client.get(path, headers=INGEST)).status_code == 403, path
    assert (await client.get("/v1/export", headers=CUSTOMER)).status_code == 403
    assert (await client.post("/v1/services", json={"key": "m", "name": "M"}, headers=MANAGER)).status_code == 201
    assert (await client.get("/v1/services", headers={})).status_code in (401, 200)


async def test_tenant_isolation_across_the_catalogue(client: httpx.AsyncClient) -> None:
    service = await new_service(client, "private")
    offering = (await client.post(f"/v1/services/{service['id']}/offerings", json=tier("Gold", "1", 0.99))).json()
    await client.post(
        "/v1/calendars",
        json={"key": "office", "name": "Office", "hours": [{"day": "mon", "start": "09:00", "end": "17:00"}]},
    )
    other = auth("globex")
    assert (await client.get(f"/v1/offerings/{offering['id']}", headers=other)).status_code == 404
    assert (await client.post(f"/v1/offerings/{offering['id']}/publish", headers=other)).status_code == 404
    assert (await client.get("/v1/calendars/office", headers=other)).status_code == 404
    assert (await client.get("/v1/offerings", headers=other)).json()["total"] == 0
    assert (await client.get("/v1/catalog", headers=other)).json()["total"] == 0
    exported = await client.get("/v1/export", params={"format": "json"}, headers=other)
    assert exported.json()["services"] == []
    link = await client.post(
        f"/v1/services/{(await new_service(client, 'mine'))['id']}/dependencies",
        json={"supporting_service_id": service["id"]},
        headers=other,
    )
    assert link.status_code == 404
