"""A configuration item stored while U+0000 was still taken (before it was refused) is read back as stored: the
service, its change, its retirement and the export answer 200 (they answered 500, the check on input applied to the
answer too), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
from conftest import new_service, run_sql


async def test_a_configuration_item_stored_with_a_nul_is_read_back_as_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    created = await new_service(client, "payments", configuration_items=[{"type": "server", "external_id": "srv-1"}])
    stored = [{"type": "server", "external_id": "srv\u00001", "name": "a\u0000b", "source": None}]
    text = json.dumps(stored).replace("'", "''")
    await run_sql(database_url, f"UPDATE services SET configuration_items = '{text}' WHERE key = 'payments'")
    url = f"/v1/services/{created['id']}"
    answers = [
        await client.get(url),
        await client.patch(url, json={"name": "Payments"}),
        await client.post(f"{url}/retire"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json()["configuration_items"] == stored, answer.text
    exported = await client.get("/v1/export", params={"format": "json"})
    assert exported.status_code == 200, exported.text
    [service] = exported.json()["services"]
    assert service["configuration_items"] == stored, exported.text
    listed = await client.get("/v1/services")
    assert listed.status_code == 200 and listed.json()["items"][0]["configuration_items"] == stored, listed.text
    reimported = await client.patch(url, json={"configuration_items": stored})
    assert reimported.status_code == 422, reimported.text
