from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_shared.db import create_engine
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture
def settings(database_url: str, nats_server: NatsServer) -> Settings:
    return Settings(database_url=database_url, **nats_server.service_login("catalog"), environment="test")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(build_app(settings), token=make_token("acme")) as client:
        yield client


def auth(tenant: str = "acme", role: str = "admin", party: str | None = None) -> dict[str, str]:
    """Headers acting as another principal."""
    return {"Authorization": f"Bearer {make_token(tenant, (role,), party=party)}"}


CUSTOMER = auth(role="customer", party="party-1")
MANAGER = auth(role="manager")
INGEST = auth(role="ingest")


def tier(name: str, amount: str, availability: float, **extra: object) -> dict[str, object]:
    """An offering body with an availability target and a price."""
    return {
        "name": name,
        "price": {"amount": amount, "currency": "EUR", "period": "month"},
        "targets": [
            {
                "indicator": "availability",
                "target": availability,
                "window": {"kind": "rolling", "duration": "28d"},
            }
        ],
        **extra,
    }


async def published_tier(client: httpx.AsyncClient, service_id: str, body: dict[str, object]) -> dict[str, object]:
    created = await client.post(f"/v1/services/{service_id}/offerings", json=body)
    assert created.status_code == 201, created.text
    published = await client.post(f"/v1/offerings/{created.json()['id']}/publish")
    assert published.status_code == 200, published.text
    return dict(published.json())


async def new_service(client: httpx.AsyncClient, key: str, **extra: object) -> dict[str, object]:
    created = await client.post("/v1/services", json={"key": key, "name": key.title(), **extra})
    assert created.status_code == 201, created.text
    return dict(created.json())


async def run_sql(database_url: str, *statements: str) -> None:
    """Statements run straight on the database, in one transaction, as an operator's script would."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def generations(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT tenant, generation FROM catalogue_generations"))
            return {row.tenant: row.generation for row in rows}
    finally:
        await engine.dispose()
