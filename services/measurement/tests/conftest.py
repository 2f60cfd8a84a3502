from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from openslo_support import EmptyPrometheus

from slm_measurement.config import Settings
from slm_measurement.main import applied_settings, build_app
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.databases import migrated_database
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


@pytest.fixture(autouse=True)
def _series_from_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests ingest series no catalogue announced; test_unknown_series.py covers the refusal."""
    monkeypatch.setenv("MEASUREMENT_UNKNOWN_SERIES", "warn")


@pytest.fixture(autouse=True)
def _domain_settings_restored() -> Iterator[None]:
    """`build_app` applies some settings process-wide (`main.configured`); a test that builds an app with its own
    must not leave them to the tests after it."""
    restore = applied_settings()
    yield
    restore()


@pytest.fixture
def settings(database_url: str, nats_server: NatsServer) -> Settings:
    return Settings(database_url=database_url, **nats_server.service_login("measurement"), environment="test")


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The API alone (no bus, consumer or worker): for tests that drive evaluation by hand."""
    app = build_app(settings.model_copy(update={"run_workers": False}))
    async with running_app(app, token=make_token("acme")) as client:
        yield app, client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The measurement database, migrated; disposed of after the test."""
    async with migrated_database("slm_measurement", database_url) as database:
        yield database


@pytest.fixture
def empty_prometheus() -> Iterator[EmptyPrometheus]:
    """A loopback Prometheus answering every range query with no data (see `openslo_support`)."""
    server = EmptyPrometheus()
    yield server
    server.close()
