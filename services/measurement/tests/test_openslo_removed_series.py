"""A deleted OpenSLO document's pulled series stops (its data stays); only a newer apply starts it again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from openslo_support import EmptyPrometheus, at, by_hand, handle, pull, tenant_source
from sqlalchemy import select

from slm_measurement.pull.models import PulledSeries
from slm_measurement.pull.openslo import on_openslo_applied, on_openslo_removed
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLORemovedV1
from slm_shared.db import Database
from slm_shared.migrations import upgrade

TENANT = "openslo-removed"


def applied(url: str, *indicators: str) -> CloudEvent:
    series: list[dict[str, Any]] = [
        {"service": "orders", "indicator": name, "data_source": "prom", "value_query": f"{name}_seconds"}
        for name in indicators
    ]
    data = OpenSLOAppliedV1.model_validate({"data_sources": [{"name": "prom", "url": url}], "pulled_series": series})
    return EVENTS.openslo_applied.build(tenant=TENANT, data=data, subject=TENANT)


def removed(*indicators: str, tenant: str = TENANT) -> CloudEvent:
    data = OpenSLORemovedV1.model_validate(
        {
            "kind": "SLO",
            "name": "orders-fast",
            "pulled_series": [{"service": "orders", "indicator": i} for i in indicators],
        }
    )
    return EVENTS.openslo_removed.build(tenant=tenant, data=data, subject=tenant)


async def consume(db: Database, event: CloudEvent) -> dict[str, bool]:
    """Consume the event; then which of the tenant's series are stopped, by indicator."""
    await handle(db, event)
    async with db.session(read_only=True) as session:
        rows = await session.scalars(select(PulledSeries).where(PulledSeries.tenant == TENANT))
        return {s.indicator: s.stopped_at is not None for s in rows}


async def test_a_deleted_documents_series_stops_and_a_late_older_apply_does_not_start_it(
    db: Database, empty_prometheus: EmptyPrometheus
) -> None:
    first = applied(empty_prometheus.url, "fast", "slow")
    assert await consume(db, first) == {"fast": False, "slow": False}
    async with db.session() as session:  # pulled over the API, never applied: not the documents' to stop
        session.add(by_hand(TENANT, (await tenant_source(session, TENANT)).id, "manual", "manual_seconds"))
    await pull(db)
    assert [empty_prometheus.asked_for(m) for m in ("fast_", "slow_", "manual_")] == [1, 1, 1]

    deleted = at(removed("fast", "manual"), 10)
    assert await consume(db, deleted) == {"fast": True, "slow": False, "manual": False}
    assert await consume(db, removed("nobody", tenant="someone-else")) == {
        "fast": True, "slow": False, "manual": False,
    }  # fmt: skip
    async with db.session() as session:  # the next pull asks for the others only
        for series in await session.scalars(select(PulledSeries).where(PulledSeries.tenant == TENANT)):
            series.pulled_until = None
    await pull(db)
    assert [empty_prometheus.asked_for(m) for m in ("fast_", "slow_", "manual_")] == [1, 2, 2]

    # the apply before the deletion, redelivered late, and one older still: nothing starts again
    assert (await consume(db, first))["fast"] is True
    assert (await consume(db, at(first, 5)))["fast"] is True
    assert (await consume(db, deleted))["fast"] is True  # a redelivered deletion changes nothing either
    # an apply after the deletion pulls it again, the same series
    async with db.session(read_only=True) as session:
        before = await session.scalar(select(PulledSeries.id).where(PulledSeries.indicator == "fast"))
    assert await consume(db, at(first, 20)) == {"fast": False, "slow": False, "manual": False}
    async with db.session() as session:
        series = await session.scalar(select(PulledSeries).where(PulledSeries.indicator == "fast"))
        assert series is not None and series.id == before
        series.pulled_until = None
    await pull(db)
    assert empty_prometheus.asked_for("fast_") == 2
    # and a deletion older than that apply, delivered after it, stops nothing
    assert (await consume(db, at(removed("fast"), 15)))["fast"] is False


async def test_a_deletion_consumed_before_its_apply_keeps_that_older_apply_from_creating_the_series(
    db: Database,
) -> None:
    first = applied("http://127.0.0.1:9", "early", "kept")
    deleted = at(removed("early"), 10)  # the apply was nak'd: its deletion is consumed first
    assert await consume(db, deleted) == {}
    assert await consume(db, at(removed("early"), 5)) == {}  # an older deletion does not move it back
    assert await consume(db, first) == {"kept": False}  # the older apply, late: the deleted series is not made
    assert await consume(db, at(first, 8)) == {"kept": False}
    assert await consume(db, at(first, 20)) == {"kept": False, "early": False}  # a newer apply makes it
    assert await consume(db, first) == {"kept": False, "early": False}


async def test_a_series_made_over_the_api_is_stopped_only_once_an_apply_took_it_over(db: Database) -> None:
    await consume(db, applied("http://127.0.0.1:9", "kept"))
    async with db.session() as session:
        session.add(by_hand(TENANT, (await tenant_source(session, TENANT)).id, "manual", "by_hand"))
    assert await consume(db, at(removed("manual"), 5)) == {"kept": False, "manual": False}  # not the documents'
    taken = at(applied("http://127.0.0.1:9", "kept", "manual"), 10)  # a document wires the same key
    assert await consume(db, taken) == {"kept": False, "manual": False}
    async with db.session(read_only=True) as session:
        series = await session.scalar(select(PulledSeries).where(PulledSeries.indicator == "manual"))
        assert series is not None and (series.value_query, series.applied_at) == ("manual_seconds", taken.time)
    assert await consume(db, at(removed("manual"), 15)) == {"kept": False, "manual": True}  # now it is


async def test_a_deletion_consumed_before_the_apply_taking_over_an_api_series_stops_it_as_in_order(
    db: Database,
) -> None:
    url = "http://127.0.0.1:9"
    base = applied(url)
    await consume(db, base)  # the data source
    async with db.session() as session:  # made over the API, never applied
        source = await tenant_source(session, TENANT)
        session.add_all(by_hand(TENANT, source.id, name, "by_hand") for name in ("ordered", "reordered", "tied"))

    def wired(name: str, seconds: int) -> CloudEvent:
        return applied(url, name).model_copy(update={"time": base.time + timedelta(seconds=seconds)})

    def deleted(name: str, seconds: int) -> CloudEvent:
        return removed(name).model_copy(update={"time": base.time + timedelta(seconds=seconds)})

    await consume(db, wired("ordered", 5))  # in order: the apply takes it over, the deletion stops it
    assert (await consume(db, deleted("ordered", 10)))["ordered"] is True
    # reversed: the deletion first finds a series not the documents' yet; the apply taking it over stops it
    assert (await consume(db, deleted("reordered", 10)))["reordered"] is False
    assert (await consume(db, wired("reordered", 5)))["reordered"] is True
    # same event time for the apply and the deletion: stopped, whichever is consumed first
    assert (await consume(db, deleted("tied", 7)))["tied"] is False
    assert (await consume(db, wired("tied", 7)))["tied"] is True
    async with db.session(read_only=True) as session:
        rows = {
            s.indicator: s for s in await session.scalars(select(PulledSeries).where(PulledSeries.tenant == TENANT))
        }
    for name, seconds in (("ordered", 10), ("reordered", 10), ("tied", 7)):
        series = rows[name]
        when = base.time + timedelta(seconds=seconds)
        assert (series.value_query, series.applied_at, series.stopped_at) == (f"{name}_seconds", when, when)
    # redelivered, each changes nothing; an apply newer than the deletion pulls it again
    assert (await consume(db, wired("reordered", 5)))["reordered"] is True
    assert (await consume(db, deleted("reordered", 10)))["reordered"] is True
    assert (await consume(db, wired("reordered", 20)))["reordered"] is False
    # a series the documents applied, deleted and applied again at the deletion's time: stopped both ways
    assert (await consume(db, wired("ordered", 30)))["ordered"] is False
    assert (await consume(db, deleted("ordered", 40)))["ordered"] is True
    assert (await consume(db, wired("ordered", 40)))["ordered"] is True


async def test_a_stopped_series_is_shown_stopped_and_changing_it_by_hand_pulls_it_again(
    app_client: Any, database_url: str
) -> None:
    _, client = app_client
    db = Database(database_url)
    try:
        first = applied("http://127.0.0.1:9", "fast")
        for event in (first, at(removed("fast"), 10)):
            await handle(db, event.model_copy(update={"tenant": "acme"}))
    finally:
        await db.dispose()
    [series] = (await client.get("/v1/pulled-series")).json()["items"]
    assert series["stopped_at"] is not None and series["indicator"] == "fast"
    changed = await client.put(
        f"/v1/pulled-series/{series['id']}", json={"data_source": "prom", "value_query": "fast_seconds_p99"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["stopped_at"] is None
    assert (await client.get(f"/v1/pulled-series/{series['id']}")).json()["stopped_at"] is None


async def test_a_deletion_consumed_while_a_newer_apply_is_uncommitted_waits_for_it(postgres_url: str) -> None:
    """Two replicas: one holds a newer apply's transaction open while the other consumes the older deletion."""
    await upgrade("slm_measurement", postgres_url)
    one, two = Database(postgres_url), Database(postgres_url)
    try:
        base = applied("http://127.0.0.1:9", "fast")
        await consume(one, base)
        async with one.session() as session:
            await on_openslo_applied(session, at(base, 20))
            deletion = asyncio.create_task(consume(two, at(removed("fast"), 10)))
            await asyncio.sleep(1)  # the deletion has read what it reads before this apply commits
            assert not deletion.done()
        assert (await deletion)["fast"] is False  # the newer apply stands
        async with one.session() as session:
            await on_openslo_removed(session, at(removed("fast"), 30))
            late = asyncio.create_task(consume(two, at(base, 25)))
            await asyncio.sleep(1)
            assert not late.done()
        assert (await late)["fast"] is True  # the newer deletion stands
    finally:
        await one.dispose()
        await two.dispose()
