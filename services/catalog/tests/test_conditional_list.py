"""Conditional GET on the service list: an ETag of the page, 304 with no body while the page is the same,
checked after the token and the tenant, and never standing for another principal's page."""

from __future__ import annotations

import httpx
from conftest import CUSTOMER, INGEST, auth, new_service


async def test_the_service_list_answers_304_only_while_the_page_is_the_same(client: httpx.AsyncClient) -> None:
    payments = await new_service(client, "payments", lifecycle="live")
    await new_service(client, "search", lifecycle="live")
    first = await client.get("/v1/services")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and first.headers["Vary"] == "Authorization"

    unchanged = await client.get("/v1/services", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["ETag"] == etag
    for header in (f'W/{etag}, "other"', f'"other", {etag}', "*"):  # weak comparison, a list, any
        assert (await client.get("/v1/services", headers={"If-None-Match": header})).status_code == 304
    assert (await client.get("/v1/services", headers={"If-None-Match": '"other"'})).status_code == 200
    # The same services on another page, filter or order are another body, so another tag.
    assert (await client.get("/v1/services?limit=1", headers={"If-None-Match": etag})).status_code == 200
    assert (await client.get("/v1/services?sort=-key", headers={"If-None-Match": etag})).status_code == 200

    # Anything in the body changes: a field of one service, then another service.
    renamed = await client.patch(
        f"/v1/services/{payments['id']}", json={"name": "Payments EU"}, headers={"If-Match": f'"{payments["id"]}.1"'}
    )
    assert renamed.status_code == 200, renamed.text
    changed = await client.get("/v1/services", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert [item["name"] for item in changed.json()["items"]] == ["Payments EU", "Search"]
    assert (await client.get("/v1/services", headers={"If-None-Match": changed.headers["ETag"]})).status_code == 304
    await new_service(client, "ledger")
    added = await client.get("/v1/services", headers={"If-None-Match": changed.headers["ETag"]})
    assert added.status_code == 200 and added.json()["total"] == 3


async def test_a_304_needs_the_token_and_never_stands_for_another_principals_page(client: httpx.AsyncClient) -> None:
    await new_service(client, "payments", lifecycle="live")
    await new_service(client, "ledger", lifecycle="retired")
    etag = (await client.get("/v1/services")).headers["ETag"]
    conditional = {"If-None-Match": etag}

    # The token and the role are checked before any 304.
    anonymous = await client.get("/v1/services", headers={**conditional, "Authorization": ""})
    assert anonymous.status_code == 401 and "ETag" not in anonymous.headers
    forged = await client.get("/v1/services", headers={**conditional, "Authorization": "Bearer forged"})
    assert forged.status_code == 401
    assert (await client.get("/v1/services", headers={**conditional, **INGEST})).status_code == 403

    # Another tenant with this tenant's tag: its own page (none of these services), never a 304.
    other = await client.get("/v1/services", headers={**conditional, **auth("globex")})
    assert other.status_code == 200 and other.json()["items"] == [] and other.headers["ETag"] != etag
    # A customer sees live services only: another body, so the staff tag is not its own.
    customer = await client.get("/v1/services", headers={**conditional, **CUSTOMER})
    assert customer.status_code == 200 and [i["key"] for i in customer.json()["items"]] == ["payments"]
    assert (
        await client.get("/v1/services", headers={"If-None-Match": customer.headers["ETag"], **CUSTOMER})
    ).status_code == 304
