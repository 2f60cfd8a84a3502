"""The read benchmark's plain FastAPI + Core baseline answers the service list's query as the catalogue does.

`bench/read_bench.py` reads `GET /v1/services` with a paged, filtered query and compares it with the Core
baseline (`bench/benchlib/plain_apps.py`) given the same query string: the ratio is like for like only if
both answer the same page, in the same order, with the same total. Checked here on SQLite and PostgreSQL
against the real catalogue app and the baseline app, each reading the same database.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from conftest import new_service

BENCH = Path(__file__).resolve().parents[3] / "bench"
QUERIES = [
    "type=business&owner=Bench&sort=key&limit=3&offset=1",
    "type=technical&sort=-key&limit=2&offset=0",
    "owner=ops&sort=name&limit=50&offset=2",
    "limit=4&offset=5",
    "sort=-created_at&limit=3",
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
        await new_service(client, f"svc-{n}", type=kind, owner_team=team)
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
