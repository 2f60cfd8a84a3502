from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture
def settings(database_url: str, nats_server: NatsServer) -> Settings:
    return Settings(database_url=database_url, nats_url=nats_server.url, environment="test")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(build_app(settings), token=make_token("acme")) as client:
        yield client
