"""A future-dated amendment is activated now but in force only from its date (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

Bearer = Callable[..., dict[str, str]]


async def test_a_future_dated_amendment_is_in_force_only_from_its_date(
    client: httpx.AsyncClient,
    seed_offering: Callable[..., Awaitable[dict[str, str]]],
    parties: dict[str, str],
    bearer: Bearer,
) -> None:
    body = {"kind": "SLA", "name": "Payments", "consumer_party_id": parties["customer"], **await seed_offering()}
    aid = (await client.post("/v1/agreements", json=body)).json()["id"]
    customer = bearer(roles=("customer",), party=parties["customer"])

    async def agree_and_activate() -> dict[str, object]:
        await client.post(f"/v1/agreements/{aid}/propose")
        await client.post(f"/v1/agreements/{aid}/accept")
        await client.post(f"/v1/agreements/{aid}/accept", headers=customer)
        activated = await client.post(f"/v1/agreements/{aid}/activate")
        assert activated.status_code == 200, activated.text
        return activated.json()

    await agree_and_activate()
    takes_effect = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    changes = {"effective_from": takes_effect.isoformat(), "review_cycle": "monthly"}
    assert (await client.post(f"/v1/agreements/{aid}/amend", json={"changes": changes})).status_code == 200
    second = await agree_and_activate()
    # Activated today, but the version in force stays the first until the amendment's date.
    assert (second["state"], second["version"], second["in_force_version"]) == ("active", 2, 1)

    async def version_at(instant: datetime) -> int | None:
        found = await client.get(f"/v1/agreements/{aid}/versions/in-force", params={"at": instant.isoformat()})
        return found.json()["version"] if found.status_code == 200 else None

    assert await version_at(datetime.now(UTC)) == 1
    assert await version_at(takes_effect - timedelta(seconds=1)) == 1  # reverted (ignoring effective_from): 2
    assert await version_at(takes_effect) == 2
    versions = (await client.get(f"/v1/agreements/{aid}/versions")).json()["items"]
    first, amendment = ((v["version"], v["in_force_from"], v["in_force_to"]) for v in versions)
    assert first[0] == 1 and datetime.fromisoformat(first[2]) == takes_effect
    assert amendment[0] == 2 and datetime.fromisoformat(amendment[1]) == takes_effect and amendment[2] is None
