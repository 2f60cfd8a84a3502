"""Applied OpenSLO PromQL SLIs as pulled series: created once, changed in place by queries, step or source."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from slm_measurement.pull.models import DataSource, PulledSeries
from slm_measurement.pull.openslo import on_openslo_applied
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1
from slm_shared.db import Database

TENANT = "openslo-pull"


def applied(
    *, source: str, step: int, good: str = "sum(increase(ok[1m]))", host_a: str = "http://prom-a:9090/"
) -> CloudEvent:
    series: dict[str, Any] = {
        "service": "orders",
        "indicator": "orders-ok",
        "data_source": source,
        "good_query": good,
        "total_query": "sum(increase(all[1m]))",
        "step_seconds": step,
    }
    sources = [{"name": "prom-a", "url": host_a}, {"name": "prom-b", "url": "http://prom-b:9090/"}]
    data = OpenSLOAppliedV1.model_validate({"data_sources": sources, "pulled_series": [series]})
    return EVENTS.openslo_applied.build(tenant=TENANT, data=data, subject=TENANT)


async def consume(db: Database, event: CloudEvent) -> list[tuple[str, str, int, str | None]]:
    async with db.session() as session:
        await on_openslo_applied(session, event)
    async with db.session(read_only=True) as session:
        names = {s.id: s.name for s in await session.scalars(select(DataSource))}
        rows = await session.scalars(select(PulledSeries).where(PulledSeries.tenant == TENANT))
        return [(s.id, names[s.data_source_id], s.step_seconds, s.good_query) for s in rows]


async def test_a_series_follows_its_step_and_source_and_a_redelivery_changes_nothing(db: Database) -> None:
    [(first_id, source, step, _)] = await consume(db, applied(source="prom-a", step=30))
    assert (source, step) == ("prom-a", 30)
    assert await consume(db, applied(source="prom-a", step=30)) == [(first_id, "prom-a", 30, "sum(increase(ok[1m]))")]
    assert await consume(db, applied(source="prom-a", step=60)) == [(first_id, "prom-a", 60, "sum(increase(ok[1m]))")]
    assert await consume(db, applied(source="prom-b", step=60)) == [(first_id, "prom-b", 60, "sum(increase(ok[1m]))")]
    changed = await consume(db, applied(source="prom-b", step=60, good="sum(increase(good[1m]))"))
    assert changed == [(first_id, "prom-b", 60, "sum(increase(good[1m]))")]
    async with db.session(read_only=True) as session:
        urls = sorted(s.url for s in await session.scalars(select(DataSource)))
    assert urls == ["http://prom-a:9090", "http://prom-b:9090"]


def later(event: CloudEvent, seconds: int) -> CloudEvent:
    return event.model_copy(update={"time": event.time + timedelta(seconds=seconds)})


async def source_a(db: Database) -> tuple[str, str | None]:
    async with db.session(read_only=True) as session:
        held = await session.scalar(select(DataSource).where(DataSource.tenant == TENANT, DataSource.name == "prom-a"))
        assert held is not None
        return held.url, held.auth_header


async def test_an_older_apply_delivered_after_a_newer_one_changes_nothing(db: Database) -> None:
    older = applied(source="prom-a", step=30, host_a="http://prom-old:9090")
    newer = later(applied(source="prom-b", step=60, good="sum(increase(good[1m]))", host_a="http://prom-new:9090"), 1)
    [(series_id, *_)] = await consume(db, newer)
    assert await consume(db, older) == [(series_id, "prom-b", 60, "sum(increase(good[1m]))")]
    assert (await source_a(db))[0] == "http://prom-new:9090"


async def test_a_data_source_moved_to_another_url_loses_its_authorization(db: Database) -> None:
    first = applied(source="prom-a", step=30)
    await consume(db, first)
    async with db.session() as session:
        held = await session.scalar(select(DataSource).where(DataSource.tenant == TENANT, DataSource.name == "prom-a"))
        assert held is not None
        held.auth_header = "Bearer prom-a-secret"
    await consume(db, later(first, 1))  # the same URL again: the authorization stays
    assert await source_a(db) == ("http://prom-a:9090", "Bearer prom-a-secret")
    for refused in ("file:///etc/passwd", "ftp://prom-a:21", "http://"):
        await consume(db, later(applied(source="prom-a", step=30, host_a=refused), 2))
        assert await source_a(db) == ("http://prom-a:9090", "Bearer prom-a-secret")
    await consume(db, later(applied(source="prom-a", step=30, host_a="https://elsewhere.example/"), 3))
    assert await source_a(db) == ("https://elsewhere.example", None)
