"""A deleted OpenSLO DataSource document's data source stops (not queried); only a newer apply starts it again.

Its credential, named by variable in the documents, is read from measurement's environment for its tenant only."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any

import pytest
from openslo_support import EmptyPrometheus, at, by_hand, handle
from openslo_support import pull as pull_due_series
from sqlalchemy import select

from slm_measurement.pull.models import DataSource, PulledSeries
from slm_measurement.pull.openslo import on_openslo_applied, on_openslo_removed
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLORemovedV1
from slm_shared.db import Database
from slm_shared.migrations import upgrade

TENANT = "openslo-sources"


def applied(url: str, *indicators: str, tenant: str = TENANT, **source: str) -> CloudEvent:
    series: list[dict[str, Any]] = [
        {"service": "orders", "indicator": name, "data_source": "prom", "value_query": f"{name}_seconds"}
        for name in indicators
    ]
    data = OpenSLOAppliedV1.model_validate(
        {"data_sources": [{"name": "prom", "url": url, **source}], "pulled_series": series}
    )
    return EVENTS.openslo_applied.build(tenant=tenant, data=data, subject=tenant)


def removed(*, series: tuple[str, ...] = (), sources: tuple[str, ...] = ("prom",), tenant: str = TENANT) -> CloudEvent:
    data = OpenSLORemovedV1.model_validate(
        {
            "kind": "DataSource" if sources else "SLO",
            "name": "prom",
            "pulled_series": [{"service": "orders", "indicator": i} for i in series],
            "data_sources": list(sources),
        }
    )
    return EVENTS.openslo_removed.build(tenant=tenant, data=data, subject=tenant)


async def consume(db: Database, event: CloudEvent) -> dict[str, DataSource]:
    """Consume the event; then the tenant's data sources by name."""
    await handle(db, event)
    async with db.session(read_only=True) as session:
        return {s.name: s for s in await session.scalars(select(DataSource).where(DataSource.tenant == event.tenant))}


async def stopped(db: Database, event: CloudEvent) -> dict[str, bool]:
    return {name: source.stopped_at is not None for name, source in (await consume(db, event)).items()}


async def pull(db: Database) -> None:
    async with db.session() as session:  # every series due again
        for series in await session.scalars(select(PulledSeries)):
            series.pulled_until = None
    await pull_due_series(db)


async def register(db: Database, url: str, *, series: str | None = None) -> None:
    """A data source (and a series on it) made over the API: never applied."""
    async with db.session() as session:
        source = DataSource(tenant=TENANT, name="prom", url=url, auth_header="Bearer by-hand")
        session.add(source)
        await session.flush()
        if series:
            session.add(by_hand(TENANT, source.id, series, "by_hand"))


async def test_a_deleted_data_source_is_not_queried_and_a_late_older_apply_does_not_start_it(
    db: Database, empty_prometheus: EmptyPrometheus
) -> None:
    first = applied(empty_prometheus.url, "fast")
    made = (await consume(db, first))["prom"]
    async with db.session() as session:  # a series pulled over the API from the documents' source
        session.add(by_hand(TENANT, made.id, "manual", "manual_seconds"))
    await pull(db)
    assert empty_prometheus.asked() == 2

    await consume(db, at(removed(series=("fast",), sources=()), 5))  # the SLO and SLI first
    await pull(db)
    assert empty_prometheus.asked() == 3  # the manual series still pulls from the source
    deleted = at(removed(), 10)  # then the DataSource document
    source = (await consume(db, deleted))["prom"]
    assert (source.id, source.stopped_at, source.applied_at) == (made.id, deleted.time, deleted.time)
    await pull(db)
    assert empty_prometheus.asked() == 3  # a stopped source is asked nothing, for any series
    assert await stopped(db, removed(tenant="someone-else")) == {}  # another tenant's deletion

    # the apply before the deletion, redelivered late, one older still, and the deletion again: still stopped
    for event in (first, at(first, 7), deleted):
        assert await stopped(db, event) == {"prom": True}
    # an apply after the deletion queries it again, the same source
    again = await consume(db, at(first, 20))
    assert again["prom"].id == made.id and again["prom"].stopped_at is None
    await pull(db)
    assert empty_prometheus.asked() == 5
    # and a deletion older than that apply, delivered after it, stops nothing
    assert await stopped(db, at(removed(), 15)) == {"prom": False}


async def test_a_deletion_consumed_before_its_apply_keeps_that_older_apply_from_creating_the_source(
    db: Database,
) -> None:
    first = applied("http://127.0.0.1:9")
    assert await stopped(db, at(removed(), 10)) == {}  # the apply was nak'd: its deletion is consumed first
    assert await stopped(db, at(removed(), 5)) == {}  # an older deletion does not move it back
    assert await stopped(db, first) == {}  # the older apply, late: the deleted source is not made
    assert await stopped(db, at(first, 8)) == {}
    assert await stopped(db, at(first, 20)) == {"prom": False}  # a newer apply makes it
    assert await stopped(db, first) == {"prom": False}


async def test_a_source_registered_over_the_api_is_stopped_only_once_an_apply_took_it_over(
    db: Database,
) -> None:
    url = "http://127.0.0.1:9"
    await register(db, url)
    base = applied(url)
    assert await stopped(db, at(removed(), 5)) == {"prom": False}  # never applied: not the documents' to stop
    taken = at(base, 10)  # a document defines the same name: it takes it over, keeping its credential
    source = (await consume(db, taken))["prom"]
    assert (source.applied_at, source.auth_header, source.stopped_at) == (taken.time, "Bearer by-hand", None)
    assert await stopped(db, at(removed(), 15)) == {"prom": True}  # now a deletion stops it


@pytest.mark.parametrize(("applied_after", "deleted_after"), [(5, 10), (7, 7)])
async def test_a_deletion_consumed_before_the_apply_taking_over_an_api_source_stops_it_as_in_order(
    db: Database, applied_after: int, deleted_after: int
) -> None:
    url = "http://127.0.0.1:9"
    await register(db, url)
    base = applied(url)
    deleted = at(removed(), deleted_after)
    assert await stopped(db, deleted) == {"prom": False}  # reversed: not the documents' yet
    source = (await consume(db, at(base, applied_after)))["prom"]  # the apply taking it over stops it at once
    assert (source.applied_at, source.stopped_at) == (deleted.time, deleted.time)
    assert await stopped(db, at(base, applied_after)) == {"prom": True}  # redelivered: nothing changes
    assert await stopped(db, at(base, 20)) == {"prom": False}  # a newer apply queries it again


async def test_a_stopped_source_is_shown_stopped_refuses_new_series_and_can_be_registered_again(
    app_client: Any, database_url: str
) -> None:
    _, client = app_client
    db = Database(database_url)
    try:
        first = applied("http://127.0.0.1:9", tenant="acme")
        await consume(db, first)
        await consume(db, at(removed(tenant="acme"), 10))
    finally:
        await db.dispose()
    [source] = (await client.get("/v1/datasources")).json()["items"]
    assert source["name"] == "prom" and source["stopped_at"] is not None
    refused = await client.post(
        "/v1/pulled-series", json={"service": "orders", "indicator": "p99", "data_source": "prom", "value_query": "q"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"field": "data_source", "message": "stopped"}]
    again = await client.post(
        "/v1/datasources", json={"name": "prom", "url": "http://127.0.0.1:10", "auth": {"bearer_token": "t"}}
    )
    assert again.status_code == 201, again.text
    assert again.json() | {"url": None} == {
        "id": source["id"], "name": "prom", "type": "prometheus", "url": None, "authenticated": True,
        "stopped_at": None,
    }  # fmt: skip
    created = await client.post(
        "/v1/pulled-series", json={"service": "orders", "indicator": "p99", "data_source": "prom", "value_query": "q"}
    )
    assert created.status_code == 201, created.text
    assert (await client.post("/v1/datasources", json={"name": "prom", "url": "http://x:1"})).status_code == 409


async def test_a_credential_named_by_variable_is_read_for_its_tenant_only(
    db: Database, empty_prometheus: EmptyPrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLM_PROMETHEUS_OPENSLO_SOURCES_PROM", "s3cret")
    monkeypatch.setenv("SLM_PROMETHEUS_OPENSLO_SOURCES_USER", "reader")
    monkeypatch.setenv("SLM_PROMETHEUS_OTHER_PROM", "not-yours")
    bearer = applied(empty_prometheus.url, "fast", bearer_token_env="SLM_PROMETHEUS_OPENSLO_SOURCES_PROM")
    assert (await consume(db, bearer))["prom"].auth_header == "Bearer s3cret"
    await pull(db)
    assert empty_prometheus.seen[-1][1] == "Bearer s3cret"

    basic = at(
        applied(
            empty_prometheus.url,
            "fast",
            username_env="SLM_PROMETHEUS_OPENSLO_SOURCES_USER",
            password_env="SLM_PROMETHEUS_OPENSLO_SOURCES_PROM",
        ),
        5,
    )
    await consume(db, basic)
    await pull(db)
    assert empty_prometheus.seen[-1][1] == "Basic " + base64.b64encode(b"reader:s3cret").decode()

    # another tenant's variable, or one not set: not read, and the stored credential stays
    for variable in ("SLM_PROMETHEUS_OTHER_PROM", "SLM_PROMETHEUS_OPENSLO_SOURCES_UNSET"):
        event = at(applied(empty_prometheus.url, "fast", bearer_token_env=variable), 10)
        assert (await consume(db, event))["prom"].auth_header.startswith("Basic ")  # type: ignore[union-attr]
    other = applied(empty_prometheus.url, tenant="other", bearer_token_env="SLM_PROMETHEUS_OTHER_PROM")
    assert (await consume(db, other))["prom"].auth_header == "Bearer not-yours"


async def test_a_source_deletion_consumed_while_a_newer_apply_is_uncommitted_waits_for_it(postgres_url: str) -> None:
    """Two replicas: one holds a newer apply's transaction open while the other consumes the older deletion."""
    await upgrade("slm_measurement", postgres_url)
    one, two = Database(postgres_url), Database(postgres_url)
    try:
        base = applied("http://127.0.0.1:9")
        await consume(one, base)
        async with one.session() as session:
            await on_openslo_applied(session, at(base, 20))
            deletion = asyncio.create_task(stopped(two, at(removed(), 10)))
            await asyncio.sleep(1)  # the deletion has read what it reads before this apply commits
            assert not deletion.done()
        assert await deletion == {"prom": False}  # the newer apply stands
        async with one.session() as session:
            await on_openslo_removed(session, at(removed(), 30))
            late = asyncio.create_task(stopped(two, at(base, 25)))
            await asyncio.sleep(1)
            assert not late.done()
        assert await late == {"prom": True}  # the newer deletion stands
    finally:
        await one.dispose()
        await two.dispose()


async def test_a_source_registered_over_the_api_after_the_deletion_was_consumed_is_not_taken_by_an_older_apply(
    db: Database,
) -> None:
    """Reversed: the deletion is consumed, staff register the name over the API, then the older apply arrives."""
    base = applied("http://doc-host:9", "fast")
    assert await stopped(db, at(removed(series=("fast",)), 10)) == {}
    await register(db, "http://api-host:9", series="fast")
    source = (await consume(db, base))["prom"]
    assert (source.url, source.auth_header, source.stopped_at, source.applied_at) == (
        "http://api-host:9", "Bearer by-hand", None, None,
    )  # fmt: skip
    async with db.session(read_only=True) as session:
        [series] = list(await session.scalars(select(PulledSeries).where(PulledSeries.tenant == TENANT)))
    assert (series.value_query, series.stopped_at, series.applied_at) == ("by_hand", None, None)
    taken = await consume(db, at(base, 20))  # an apply newer than the deletion takes it over as any
    assert (taken["prom"].url, taken["prom"].stopped_at) == ("http://doc-host:9", None)


async def test_a_series_on_a_stopped_source_is_not_replayed_and_its_source_is_asked_nothing(
    app_client: Any, database_url: str, empty_prometheus: EmptyPrometheus
) -> None:
    _, client = app_client
    db = Database(database_url)
    try:
        first = applied(empty_prometheus.url, "fast", tenant="acme")
        await consume(db, first)
        [series] = (await client.get("/v1/pulled-series")).json()["items"]
        start = (first.time - timedelta(hours=1)).isoformat()
        replayed = await client.post(f"/v1/pulled-series/{series['id']}/replay", json={"start": start})
        assert replayed.status_code == 200, replayed.text
        asked = empty_prometheus.asked()
        assert asked >= 1  # the source answers while its document stands
        await consume(db, at(removed(tenant="acme"), 10))  # the DataSource document alone is deleted
    finally:
        await db.dispose()
    refused = await client.post(f"/v1/pulled-series/{series['id']}/replay", json={"start": start})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"field": "data_source", "message": "stopped"}]
    assert empty_prometheus.asked() == asked


async def test_a_later_apply_naming_no_variable_stops_sending_the_one_read_before(
    db: Database, empty_prometheus: EmptyPrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLM_PROMETHEUS_OPENSLO_SOURCES_PROM", "s3cret")
    named = applied(empty_prometheus.url, "fast", bearer_token_env="SLM_PROMETHEUS_OPENSLO_SOURCES_PROM")
    assert (await consume(db, named))["prom"].auth_header == "Bearer s3cret"
    dropped = await consume(db, at(applied(empty_prometheus.url, "fast"), 5))  # same URL, bearerTokenEnv removed
    assert dropped["prom"].auth_header is None
    await pull(db)
    assert empty_prometheus.seen[-1][1] is None
    # a credential registered over the API is the API's: an apply naming no variable keeps it
    async with db.session() as session:
        [source] = await session.scalars(select(DataSource).where(DataSource.tenant == TENANT))
        source.auth_header = "Bearer by-hand"
    assert (await consume(db, at(applied(empty_prometheus.url, "fast"), 10)))["prom"].auth_header == "Bearer by-hand"
