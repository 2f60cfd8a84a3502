"""Service list pages kept under the tenant's catalogue generation: answered again only while no row of the
services table changed (whoever wrote it: this process, another replica, raw SQL), never to another tenant nor to
a reader who sees other services, and never older than the generation they are kept under."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import CUSTOMER, auth, generations, new_service, run_sql
from fastapi import FastAPI
from pydantic import ValidationError

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_catalog.services import repository
from slm_catalog.services.router import kept_pages
from slm_catalog.services.schemas import ServiceListQuery
from slm_shared.db import create_engine
from slm_shared.migrations import upgrade
from slm_shared.testing.app_client import running_app
from slm_shared.testing.legacy_rows import insert_rows
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.conditional import body_etag
from slm_shared.web.row_bodies import KeptBodies


async def names(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any) -> list[str]:
    response = await client.get("/v1/services", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def globex_service(client: httpx.AsyncClient, key: str) -> None:
    created = await client.post("/v1/services", json={"key": key, "name": key.title()}, headers=auth("globex"))
    assert created.status_code == 201, created.text


def kept_bodies(app: FastAPI) -> list[bytes]:
    return [body for body, _ in kept_pages(app)._bodies.values()]


async def test_a_write_through_one_replica_or_raw_sql_shows_in_the_next_read_of_another(settings: Settings) -> None:
    url = settings.database_url
    one, two = build_app(settings), build_app(settings)
    async with (
        running_app(one, token=make_token("acme")) as first,
        running_app(two, token=make_token("acme")) as second,
    ):
        payments = await new_service(first, "payments")
        await new_service(first, "search")
        read = await second.get("/v1/services")
        assert [i["name"] for i in read.json()["items"]] == ["Payments", "Search"]
        again = await second.get("/v1/services", headers={"If-None-Match": read.headers["ETag"]})
        assert again.status_code == 304  # the kept page and its tag
        assert kept_bodies(two) == [read.content]  # answered from what `two` keeps, not built again

        # A write through the other replica.
        renamed = await first.patch(
            f"/v1/services/{payments['id']}",
            json={"name": "Payments EU"},
            headers={"If-Match": f'"{payments["id"]}.1"'},
        )
        assert renamed.status_code == 200, renamed.text
        assert await names(second) == ["Payments EU", "Search"]

        # Raw SQL, on neither replica: every kind of write, each seen by both on their next read.
        await run_sql(url, "UPDATE services SET name = 'Paid' WHERE key = 'payments'")
        assert await names(first) == await names(second) == ["Paid", "Search"]
        raw = {"id": "svc-raw", "tenant": "acme", "key": "raw", "name": "Raw", "lifecycle": "live", "tags": []}
        await insert_rows(url, "services", [raw])
        assert await names(first) == await names(second) == ["Paid", "Raw", "Search"]
        await run_sql(url, "DELETE FROM services WHERE key = 'raw'")
        assert await names(first) == await names(second) == ["Paid", "Search"]
        # Unchanged since: answered from what each keeps.
        before = kept_bodies(two)
        assert await names(second) == ["Paid", "Search"] and kept_bodies(two) == before


async def test_a_kept_page_is_never_another_tenants_nor_a_staff_page_for_a_customer(client: httpx.AsyncClient) -> None:
    await new_service(client, "payments", lifecycle="live")
    await new_service(client, "ledger", lifecycle="retired")
    for _ in range(2):  # read twice: the second of each is answered from what was kept
        assert await names(client) == ["Ledger", "Payments"]
        assert await names(client, CUSTOMER) == ["Payments"]  # live only, not the staff page kept just before
        assert await names(client, CUSTOMER, lifecycle="live") == ["Payments"]
        assert await names(client, CUSTOMER, lifecycle="retired") == []
        assert await names(client, auth("globex")) == []  # another tenant, the same query: not acme's page
        assert await names(client, auth("globex", role="customer", party="p-9")) == []
    await globex_service(client, "orders")
    for _ in range(2):
        assert await names(client, auth("globex")) == ["Orders"]
        assert await names(client) == ["Ledger", "Payments"]
    assert await names(client, auth("globex"), q="pay") == []
    assert await names(client, q="pay") == ["Payments"]


@pytest.mark.parametrize("write", ["after the generation is read", "after the page is read"])
async def test_a_read_racing_a_write_keeps_no_page_older_than_its_generation(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """A write commits while a list read runs: between its reading of the generation and of the page, or between
    the page and keeping it. Whichever, the next read answers the written row, on this replica too."""
    app = build_app(settings)
    async with running_app(app, token=make_token("acme")) as client:
        await new_service(client, "payments")
        assert await names(client) == ["Payments"]
        page = repository.service_page

        async def racing(*args: Any, **kwargs: Any) -> tuple[Sequence[Any], int]:
            if write == "after the generation is read":
                await run_sql(settings.database_url, "UPDATE services SET name = 'Renamed' WHERE key = 'payments'")
            found = await page(*args, **kwargs)
            if write == "after the page is read":
                await run_sql(settings.database_url, "UPDATE services SET name = 'Renamed' WHERE key = 'payments'")
            return found

        await new_service(client, "search")  # a new generation: the next read reads the page (where the race is)
        with monkeypatch.context() as patched:
            patched.setattr(repository, "service_page", racing)
            raced = await names(client)
        assert raced == (["Renamed", "Search"] if write == "after the generation is read" else ["Payments", "Search"])
        for _ in range(2):
            assert await names(client) == ["Renamed", "Search"]


async def test_every_write_of_the_services_table_changes_its_tenants_generation(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    url = settings.database_url
    assert await generations(url) == {}
    await new_service(client, "payments")
    await globex_service(client, "orders")
    seen = [await generations(url)]
    assert set(seen[0]) == {"acme", "globex"}

    async def changed(*statements: str) -> set[str]:
        await run_sql(url, *statements)
        now = await generations(url)
        seen.append(now)
        return {tenant for tenant in now if now[tenant] != seen[-2].get(tenant)}

    assert await changed("UPDATE services SET description = 'x' WHERE key = 'payments'") == {"acme"}
    assert await changed("UPDATE services SET version = version WHERE tenant = 'globex'") == {"globex"}  # no-op too
    assert await changed("UPDATE services SET name = 'y' WHERE key = 'none'") == set()  # no row written
    assert await changed("SELECT * FROM services") == set()
    assert await changed("UPDATE services SET tenant = 'initech' WHERE key = 'orders'") == {"globex", "initech"}
    assert await changed("DELETE FROM services WHERE key = 'orders'") == {"initech"}
    for tenant in ("acme", "globex", "initech"):  # a tenant's generation never comes back to a value it had
        values = [each[tenant] for each in seen if tenant in each]
        taken = [value for value, before in zip(values, [None, *values[:-1]], strict=True) if value != before]
        assert len(taken) == len(set(taken))


async def test_writers_of_one_tenant_queue_for_its_generation_without_deadlock(
    postgres_url: str, nats_server: NatsServer
) -> None:
    """On PostgreSQL the generation is written at commit (a deferred trigger): a transaction that changed one
    service and waits for a row another writer locked never holds the generation that writer needs to commit."""
    settings = Settings(database_url=postgres_url, **nats_server.service_login("catalog"), environment="test")
    async with running_app(build_app(settings), token=make_token("acme")) as client:
        await new_service(client, "alpha")
        await new_service(client, "bravo")
        engine = create_engine(postgres_url)
        try:
            async with engine.connect() as many, engine.connect() as one:
                await many.execute(sa.text("UPDATE services SET name = 'A1' WHERE key = 'alpha'"))
                # the single-service path: lock the row (as If-Match does), then change it
                await one.execute(sa.text("SELECT id FROM services WHERE key = 'bravo' FOR UPDATE"))
                waiting = asyncio.create_task(
                    many.execute(sa.text("UPDATE services SET name = 'B1' WHERE key = 'bravo'"))
                )
                await asyncio.sleep(0.3)
                assert not waiting.done()  # waits for `one`'s row lock
                await one.execute(sa.text("UPDATE services SET name = 'B0' WHERE key = 'bravo'"))
                await asyncio.wait_for(one.commit(), 30)
                await asyncio.wait_for(waiting, 30)
                await asyncio.wait_for(many.commit(), 30)
        finally:
            await engine.dispose()
        assert await names(client) == ["A1", "B1"]


async def test_tenants_with_services_before_the_triggers_get_a_generation(settings: Settings) -> None:
    await upgrade("slm_catalog", settings.database_url, "0005")
    rows = [
        {"id": f"svc-{tenant}-{n}", "tenant": tenant, "key": f"s{n}", "name": f"S{n}", "lifecycle": "live", "tags": []}
        for tenant in ("acme", "globex")
        for n in range(3)
    ]
    await insert_rows(settings.database_url, "services", rows)
    await upgrade("slm_catalog", settings.database_url)
    found = await generations(settings.database_url)
    assert set(found) == {"acme", "globex"} and len(set(found.values())) == 2


async def test_no_page_is_kept_with_none_to_keep(settings: Settings) -> None:
    app = build_app(settings.model_copy(update={"service_pages": 0}))
    async with running_app(app, token=make_token("acme")) as client:
        await new_service(client, "payments")
        first = await client.get("/v1/services")
        assert await names(client) == ["Payments"] and len(kept_pages(app)) == 0
        assert (await client.get("/v1/services", headers={"If-None-Match": first.headers["ETag"]})).status_code == 304


@pytest.mark.parametrize("count", ["-1", "10001"])
def test_a_count_of_service_pages_out_of_bounds_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, count: str
) -> None:
    monkeypatch.setenv("CATALOG_SERVICE_PAGES", count)
    with pytest.raises(ValidationError, match=f"CATALOG_SERVICE_PAGES must be 0 to 10000, not {count}"):
        Settings()
    monkeypatch.setenv("CATALOG_SERVICE_PAGES", "10000")
    assert Settings().service_pages == 10_000


def test_kept_pages_are_bounded_in_count_and_bytes() -> None:
    pages: KeptBodies[str] = KeptBodies(size=3, max_bytes=16 * 100)
    for key in "abcd":
        pages.keep(key, key.encode() * 10)
    assert len(pages) == 3 and pages.get("a") is None  # the least recently read went first
    assert pages.get("b") == (b"b" * 10, body_etag(b"b" * 10))
    pages.keep("b", b"B" * 100)  # a key kept again: its new body replaces the old, counted once
    assert pages.get("b") == (b"B" * 100, body_etag(b"B" * 100))
    assert pages._bytes == sum(len(body) for body, _ in pages._bodies.values()) == 120
    assert pages.keep("big", b"z" * 101)[0] == b"z" * 101 and pages.get("big") is None  # above a sixteenth
    bounded: KeptBodies[str] = KeptBodies(size=100, max_bytes=16 * 100)
    for n in range(20):
        bounded.keep(str(n), b"q" * 100)
    assert bounded._bytes == 16 * 100 and len(bounded) == 16 and bounded.get("3") is None
    nothing: KeptBodies[str] = KeptBodies(size=0)
    assert nothing.keep("a", b"body") == (b"body", body_etag(b"body")) and len(nothing) == 0


# Per query field, two values giving different pages of the services `query_field_services` writes.
FIELD_PAIRS: dict[str, tuple[tuple[object, list[str]], tuple[object, list[str]]]] = {
    "type": (("business", ["Alpha"]), ("technical", ["Bravo"])),
    "lifecycle": (("live", ["Alpha"]), ("pipeline", ["Bravo"])),
    "tag": (("eu", ["Alpha"]), ("us", ["Bravo"])),
    "owner": (("team-a", ["Alpha"]), ("team-b", ["Bravo"])),
    "q": (("alpha", ["Alpha"]), ("bravo", ["Bravo"])),
    "sort": (("key", ["Alpha", "Bravo"]), ("-key", ["Bravo", "Alpha"])),
    "limit": ((1, ["Alpha"]), (2, ["Alpha", "Bravo"])),
    "offset": ((0, ["Alpha", "Bravo"]), (1, ["Bravo"])),
}


def test_every_query_field_has_a_pair_of_pages() -> None:
    assert set(FIELD_PAIRS) == set(ServiceListQuery.model_fields)  # a new field of the query gets a pair too


@pytest.mark.parametrize("field", sorted(FIELD_PAIRS))
async def test_two_queries_differing_in_one_field_are_answered_their_own_pages(
    client: httpx.AsyncClient, field: str
) -> None:
    await new_service(client, "alpha", type="business", lifecycle="live", tags=["eu"], owner_team="team-a")
    await new_service(client, "bravo", type="technical", lifecycle="pipeline", tags=["us"], owner_team="team-b")
    (one, one_names), (other, other_names) = FIELD_PAIRS[field]
    for _ in range(2):  # the second round is answered from the pages the first kept
        assert await names(client, **{field: one}) == one_names
        assert await names(client, **{field: other}) == other_names


async def test_a_page_tag_read_before_a_write_gets_the_new_page_and_a_new_tag(client: httpx.AsyncClient) -> None:
    payments = await new_service(client, "payments")
    before = await client.get("/v1/services")
    assert (await client.get("/v1/services", headers={"If-None-Match": before.headers["ETag"]})).status_code == 304
    renamed = await client.patch(
        f"/v1/services/{payments['id']}", json={"name": "Payments EU"}, headers={"If-Match": f'"{payments["id"]}.1"'}
    )
    assert renamed.status_code == 200, renamed.text
    after = await client.get("/v1/services", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and [i["name"] for i in after.json()["items"]] == ["Payments EU"]
    assert after.headers["ETag"] != before.headers["ETag"]
    assert (await client.get("/v1/services", headers={"If-None-Match": after.headers["ETag"]})).status_code == 304
