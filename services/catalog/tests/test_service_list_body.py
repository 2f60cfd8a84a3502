"""The hot service list writes its body straight from rows, in one statement: the same bytes (and so the same
ETag) the models write for the same services, and on SQLite one SELECT for the page and its total."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import auth, new_service, run_sql
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_catalog.services.schemas import ServicePublic
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.web.conditional import body_etag
from slm_shared.web.pagination import Page

MODELS_PAGE = TypeAdapter(Page[ServicePublic])


async def expected_page(client: httpx.AsyncClient, page: dict[str, Any]) -> bytes:
    """The page as the models write it, each item the single read of that service."""
    items = [ServicePublic.model_validate((await client.get(f"/v1/services/{i['id']}")).json()) for i in page["items"]]
    found = Page[ServicePublic](items=items, total=page["total"], limit=page["limit"], offset=page["offset"])
    return MODELS_PAGE.dump_json(found)


async def test_the_list_body_is_byte_for_byte_what_the_models_write(client: httpx.AsyncClient) -> None:
    await new_service(
        client,
        "payments",
        name='Pay "EU" \\ <b>&</b> caf\u00e9 \u2028 \U0001f600 \x7f',
        description="line one\nline two\ttabbed \x01",
        tags=["pci", "tier-1", "\u00fcber"],
        owner_team="Core",
        owner_contact="ops@example.com",
        configuration_items=[
            {"type": "server", "external_id": "srv-1"},
            {"type": "database", "external_id": "db-1", "name": "Primary", "source": "servicenow"},
        ],
    )
    await new_service(client, "search", type="technical", lifecycle="pipeline")
    await new_service(client, "ledger", lifecycle="retired")

    for params in ({}, {"limit": 2}, {"limit": 1, "offset": 2}, {"sort": "-name"}, {"tag": "pci"}, {"offset": 9}):
        response = await client.get("/v1/services", params=params)
        assert response.status_code == 200, response.text
        expected = await expected_page(client, response.json())
        assert response.content == expected, params
        assert response.headers["ETag"] == body_etag(expected)

    customer = await client.get("/v1/services", headers=auth(role="customer", party="p-1"))
    assert [i["key"] for i in customer.json()["items"]] == ["payments"]  # live only
    assert customer.content == await expected_page(client, customer.json())


async def test_a_page_built_on_every_read_is_the_kept_page_and_the_models_bytes(settings: Settings) -> None:
    """The miss path (a replica keeping no page builds every read) answers the bytes and ETag of the kept path
    (built once, then answered again), which are the models' bytes and match the OpenAPI schema; a configuration
    item stored with its keys in another order and fields absent is written in the model's order, absent ones null.
    The page's statement reads the body's columns, not the tenant."""
    keeping = build_app(settings)
    building = build_app(settings.model_copy(update={"service_pages": 0}))
    async with (
        running_app(keeping, token=make_token("acme")) as kept,
        running_app(building, token=make_token("acme")) as built,
    ):
        await new_service(
            kept,
            "payments",
            name='Pay "EU" \\ caf\u00e9 \u2028 \U0001f600',
            description="line one\nline two",
            tags=["pci", "\u00fcber"],
            owner_team="Core",
            configuration_items=[{"type": "server", "external_id": "srv-1", "name": "Primary", "source": "cmdb"}],
        )
        await new_service(kept, "search", type="technical", lifecycle="pipeline", owner_contact="ops@example.com")
        await new_service(kept, "ledger")
        await run_sql(
            settings.database_url,
            """UPDATE services SET configuration_items = '[{"external_id": "ci-9", "type": "app"}]' """
            "WHERE key = 'ledger'",
        )
        document = (await kept.get("/openapi.json")).json()
        schema = document["paths"]["/v1/services"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": document["components"]})
        assert (await built.get("/v1/services")).status_code == 200  # the inline read connection is open (SQLite)
        statements = traced(building) if building.state.db.reader._inline is not None else None
        customer = auth(role="customer", party="p-1")
        queries: list[tuple[dict[str, Any], dict[str, str] | None]] = [
            ({}, None),
            ({"limit": 1, "offset": 1}, None),
            ({"sort": "-name", "tag": "pci"}, None),
            ({"offset": 9}, None),
            ({}, customer),
        ]
        for params, headers in queries:
            answers = [await kept.get("/v1/services", params=params, headers=headers) for _ in range(2)]
            answers += [await built.get("/v1/services", params=params, headers=headers) for _ in range(2)]
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            assert len({(a.content, a.headers["ETag"]) for a in answers}) == 1, (params, [a.content for a in answers])
            page = answers[0].json()
            assert list(validator.iter_errors(page)) == [], params
            assert answers[0].content == await expected_page(kept, page), params
        ledger = next(i for i in (await built.get("/v1/services")).json()["items"] if i["key"] == "ledger")
        ci = {"type": "app", "external_id": "ci-9", "name": None, "source": None}
        assert list(ledger["configuration_items"][0].items()) == list(ci.items())
        if statements is not None:
            selected = statements[-1].split("FROM", 1)[0]  # the columns read, up to the count's subquery
            assert "services.id" in selected and "services.tenant" not in selected, statements[-1]


def traced(app: FastAPI) -> list[str]:
    """The statements the app's inline SQLite read connection runs from now on (open after a first list read)."""
    inline = app.state.db.reader._inline_connection
    assert inline is not None, "the list is read on the inline SQLite connection"
    statements: list[str] = []
    inline.connection.dbapi_connection.set_trace_callback(statements.append)
    return statements


async def test_a_page_and_its_total_are_one_statement_on_sqlite(sqlite_url: str, nats_server: NatsServer) -> None:
    """Kept pages on (the default): a page read first is the tenant's generation, then the page and its total in
    one statement; read again unchanged, the generation alone. Kept pages off: the page's one statement."""
    for kept, first, again in ((512, 2, 1), (0, 1, 1)):
        settings = Settings(
            database_url=sqlite_url, **nats_server.service_login("catalog"), environment="test", service_pages=kept
        )
        app = build_app(settings)
        async with running_app(app, token=make_token("acme")) as client:
            if kept:
                for key in ("payments", "search", "ledger"):
                    await new_service(client, key)
            assert (await client.get("/v1/services")).status_code == 200  # the inline read connection is open
            statements = traced(app)
            for count in (first, again):
                statements.clear()
                page = (await client.get("/v1/services", params={"limit": 2})).json()
                assert [i["key"] for i in page["items"]] == ["ledger", "payments"] and page["total"] == 3
                assert len(statements) == count, statements
                assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements
                assert ("catalogue_generations" in statements[0]) == bool(kept), statements


async def test_a_filtered_page_counts_the_filtered_services_not_the_page(client: httpx.AsyncClient) -> None:
    """The total is every service the filters match, whatever page is asked for, past the last one included."""
    await new_service(client, "alpha", tags=["pci"], owner_team="Core", description="card vault")
    await new_service(client, "bravo", tags=["pci-dss"], owner_team="Core")  # another tag, not `pci`
    await new_service(client, "charlie", tags=["tier-1", "pci"], owner_team="Edge")
    await new_service(client, "delta", owner_team="core", description="ledger")
    await new_service(client, "echo", tags=["pci"], owner_team="Core", name="Vault Echo")

    async def page(**params: object) -> tuple[list[str], int, int, int]:
        response = await client.get("/v1/services", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        return [i["key"] for i in body["items"]], body["total"], body["limit"], body["offset"]

    assert await page(tag="pci") == (["alpha", "charlie", "echo"], 3, 50, 0)
    assert await page(tag="pci", limit=1, offset=1) == (["charlie"], 3, 1, 1)
    assert await page(tag="pci", offset=9) == ([], 3, 50, 9)
    assert await page(owner="CORE", limit=2) == (["alpha", "bravo"], 4, 2, 0)  # owner team, any case
    assert await page(owner="core", offset=9) == ([], 4, 50, 9)
    assert await page(q="vault", limit=1) == (["alpha"], 2, 1, 0)  # description of alpha, name of echo
    assert await page(q="vault", tag="pci", owner="core", offset=1) == (["echo"], 2, 50, 1)
    assert await page() == (["alpha", "bravo", "charlie", "delta", "echo"], 5, 50, 0)
