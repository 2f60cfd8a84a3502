"""The read benchmark's plain FastAPI + Core baseline answers the service list's query as the catalogue does.

`bench/read_bench.py` reads `GET /v1/services` with a paged, filtered query and compares it with the Core
baseline (`bench/benchlib/plain_apps.py`) given the same query string: the ratio is like for like only if
both answer the same page, in the same order, with the same total. Checked here on SQLite and PostgreSQL
against the real catalogue app and the baseline app, each reading the same database.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from conftest import new_service
from pydantic import BaseModel
from sqlalchemy import event

BENCH = Path(__file__).resolve().parents[3] / "bench"
QUERIES = [
    "type=business&owner=Bench&sort=key&limit=3&offset=1",
    "type=technical&sort=-key&limit=2&offset=0",
    "owner=ops&sort=name&limit=50&offset=2",
    "limit=4&offset=5",
    "sort=-created_at&limit=3",
    # names shared by three services each: the order among equals is the id's, on both
    "sort=name&limit=7&offset=1",
    "sort=-name&limit=50",
    # an empty owner filters nothing, on both
    "owner=&type=business&limit=50",
]


def _plain_apps(monkeypatch: pytest.MonkeyPatch, database_url: str) -> ModuleType:
    """A fresh copy of the baseline module, its engine on the catalogue's database."""
    monkeypatch.setenv("BENCH_DATABASE_URL", database_url)
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_plain_apps_under_test", BENCH / "benchlib" / "plain_apps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def core(
    client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    for n in range(9):
        kind, team = ("business", "bench") if n % 3 else ("technical", "ops")
        await new_service(client, f"svc-{n}", name=f"Group {n % 3}", type=kind, owner_team=team)
    plain = _plain_apps(monkeypatch, database_url)
    async with plain.reflect(plain.core):
        transport = httpx.ASGITransport(app=plain.core)
        async with httpx.AsyncClient(transport=transport, base_url="http://core") as baseline:
            yield baseline


@pytest.mark.parametrize("query", QUERIES)
async def test_the_core_baseline_answers_the_same_page_and_total_for_the_same_query(
    client: httpx.AsyncClient, core: httpx.AsyncClient, query: str
) -> None:
    ours = await client.get(f"/v1/services?{query}")
    baseline = await core.get(f"/services?{query}&tenant=acme")
    assert ours.status_code == baseline.status_code == 200, (ours.text, baseline.text)
    assert [s["key"] for s in baseline.json()["items"]] == [s["key"] for s in ours.json()["items"]]
    assert ours.json()["items"], "a query that finds nothing would prove nothing"
    for field in ("total", "limit", "offset"):
        assert baseline.json()[field] == ours.json()[field], field


@pytest.mark.parametrize("query", ["limit=0", "offset=-1", "type=other", "sort=owner"])
async def test_the_core_baseline_refuses_what_the_catalogue_refuses(
    client: httpx.AsyncClient, core: httpx.AsyncClient, query: str
) -> None:
    assert (await client.get(f"/v1/services?{query}")).status_code == 422
    assert (await core.get(f"/services?{query}&tenant=acme")).status_code == 422


async def test_the_core_baseline_answers_through_a_response_model_of_every_column(core: httpx.AsyncClient) -> None:
    """A plain FastAPI app declares its response model: FastAPI validates the rows into it and serialises the
    model (a Core row's keys are `quoted_name`s, which Pydantic serialises on a slow path as a bare dict)."""
    plain = sys.modules["bench_plain_apps_under_test"]
    routes = {route.path: route for route in plain.core.routes if hasattr(route, "response_model")}
    assert routes["/services"].response_model is plain.Page[plain.ServiceOut]
    assert routes["/objectives/{objective_id}"].response_model is plain.ObjectiveOut
    assert set(plain.ServiceOut.model_fields) == set(plain.tables["services"].columns.keys())
    items = (await core.get("/services?tenant=acme")).json()["items"]
    assert items and all(set(item) == set(plain.ServiceOut.model_fields) for item in items)
    assert issubclass(plain.Page[plain.ServiceOut], BaseModel)


async def test_the_core_baseline_keeps_one_pooled_connection_per_connection_of_the_load_generator(
    core: httpx.AsyncClient,
) -> None:
    """As many requests at once as the load generator sends, twice: no connection is opened the second time
    (the default pool, 5 + 10 overflow closed on return, opens and closes connections all along)."""
    plain = sys.modules["bench_plain_apps_under_test"]
    concurrency = sys.modules["benchlib.loadgen"].CONCURRENCY
    opened: list[object] = []
    event.listen(plain.engine.sync_engine, "connect", lambda connection, record: opened.append(connection))

    async def hold() -> None:
        async with plain.engine.connect():
            await asyncio.sleep(0.05)

    for _ in range(2):
        await asyncio.gather(*(hold() for _ in range(concurrency)))
    assert len(opened) <= concurrency
    assert plain.engine.pool.size() == concurrency
