"""Ingestion: bulk buckets and rollups, all-or-nothing batches, idempotency and lateness."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from slm_measurement.models import DayBucket, HourBucket, MinuteBucket
from slm_shared.testing.pytest_plugin import make_token

NOW = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)


def stamp(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def point(minutes: float, good: float, total: float, **extra: object) -> dict[str, object]:
    return {
        "service": "payments",
        "indicator": "availability",
        "timestamp": stamp(minutes),
        "good": good,
        "total": total,
        **extra,
    }


async def bucket_rows(app: FastAPI, model: type) -> list[tuple[int, float, float]]:
    async with app.state.db.sessionmaker() as session:
        index = {MinuteBucket: MinuteBucket.minute, HourBucket: HourBucket.hour, DayBucket: DayBucket.day}[model]
        rows = await session.execute(
            select(index, model.good, model.total).where(model.tenant == "acme").order_by(index)
        )
        return [tuple(row) for row in rows.all()]


async def test_ingest_fills_minute_buckets_and_rollups(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    batch = [point(0, 9, 10), point(0.5, 1, 1), point(1, 5, 5), point(61, 3, 4), point(24 * 60 + 1, 0, 2)]
    response = await client.post("/v1/measurements", json=batch)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 5
    again = [point(1, 1, 2, scope="eu-west")]
    assert (await client.post("/v1/measurements", json=again)).status_code == 202

    minute0 = int(NOW.timestamp()) // 60
    minutes = await bucket_rows(app, MinuteBucket)
    assert minutes == [
        (minute0, 10, 11),
        (minute0 + 1, 5, 5),
        (minute0 + 1, 1, 2),
        (minute0 + 61, 3, 4),
        (minute0 + 1441, 0, 2),
    ]
    hours = {}
    for hour, good, total in await bucket_rows(app, HourBucket):
        hours[hour] = (hours.get(hour, (0, 0))[0] + good, hours.get(hour, (0, 0))[1] + total)
    expected_hours: dict[int, tuple[float, float]] = {}
    for minute, good, total in minutes:
        g, t = expected_hours.get(minute // 60, (0, 0))
        expected_hours[minute // 60] = (g + good, t + total)
    assert hours == expected_hours
    days = await bucket_rows(app, DayBucket)
    assert sum(r[1] for r in days) == 19 and sum(r[2] for r in days) == 24
    assert {r[0] for r in days} == {minute // 1440 for minute, _, _ in minutes}


async def test_ndjson_is_accepted(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    body = "\n".join(json.dumps(p) for p in [point(0, 1, 1), point(2, 2, 3)]) + "\n"
    response = await client.post("/v1/measurements", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    assert [(r[1], r[2]) for r in await bucket_rows(app, MinuteBucket)] == [(1, 1), (2, 3)]


async def test_a_bad_point_refuses_the_whole_batch(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    batch = [point(0, 1, 1), point(1, 1, 1), point(2, 1, 1), point(3, 5, 4)]
    response = await client.post("/v1/measurements", json=batch)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "[3].good"
    typed = [point(0, 1, 1), {**point(1, 1, 1), "total": "many"}]
    response = await client.post("/v1/measurements", json=typed)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "[1].total"
    missing = [point(0, 1, 1), {k: v for k, v in point(1, 1, 1).items() if k != "indicator"}]
    response = await client.post("/v1/measurements", json=missing)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "[1].indicator"
    naive = [{**point(0, 1, 1), "timestamp": "2026-01-01T00:00:00"}]
    response = await client.post("/v1/measurements", json=naive)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "[0].timestamp"
    ndjson = json.dumps(point(0, 1, 1)) + "\n" + json.dumps({**point(1, 1, 1), "good": -1})
    response = await client.post("/v1/measurements", content=ndjson, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "[1].good"
    assert (
        await client.post("/v1/measurements", content=b"[{", headers={"Content-Type": "application/json"})
    ).status_code == 400
    assert await bucket_rows(app, MinuteBucket) == []
    assert await bucket_rows(app, DayBucket) == []


async def test_late_and_future_points_are_refused(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    late = [point(0, 1, 1), {**point(0, 1, 1), "timestamp": (datetime.now(UTC) - timedelta(days=8)).isoformat()}]
    response = await client.post("/v1/measurements", json=late)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "[1].timestamp" and "lateness" in error["message"]
    future = [{**point(0, 1, 1), "timestamp": (datetime.now(UTC) + timedelta(minutes=10)).isoformat()}]
    response = await client.post("/v1/measurements", json=future)
    assert response.status_code == 422 and "future" in response.json()["errors"][0]["message"]
    assert await bucket_rows(app, MinuteBucket) == []


async def test_repeated_idempotency_key_changes_nothing(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = app_client
    batch = [point(0, 3, 4)]
    first = await client.post("/v1/measurements", json=batch, headers={"Idempotency-Key": "batch-1"})
    again = await client.post("/v1/measurements", json=batch, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert [(r[1], r[2]) for r in await bucket_rows(app, MinuteBucket)] == [(3, 4)]
    assert [(r[1], r[2]) for r in await bucket_rows(app, DayBucket)] == [(3, 4)]


async def test_only_ingest_or_admin_may_write(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app_client
    ingest = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}
    customer = {"Authorization": f"Bearer {make_token('acme', roles=('customer',), party='p1')}"}
    assert (await client.post("/v1/measurements", json=[point(0, 1, 1)], headers=ingest)).status_code == 202
    assert (await client.post("/v1/measurements", json=[point(0, 1, 1)], headers=customer)).status_code == 403
    assert (
        await client.post("/v1/measurements", json=[point(0, 1, 1)], headers={"Authorization": ""})
    ).status_code == 401
    wrong = await client.post("/v1/measurements", content=b"a,b", headers={"Content-Type": "text/csv"})
    assert wrong.status_code == 415


async def test_openapi_documents_both_body_shapes(app_client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app_client
    schema = (await client.get("/openapi.json")).json()
    content = schema["paths"]["/v1/measurements"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-ndjson"}
    assert set(content["application/x-ndjson"]["schema"]["required"]) == {"service", "indicator", "timestamp"}
    shapes = content["application/json"]["schema"]["oneOf"]
    assert shapes[0]["type"] == "array" and "series" in shapes[1]["properties"]


async def test_a_second_batch_for_the_same_minutes_adds_to_every_level(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    counts = [point(0, 9, 10), point(61, 3, 4)]
    values = {
        "series": [
            {"service": "payments", "indicator": "latency", "timestamps": [NOW.timestamp()] * 3, "values": [1, 2, 900]}
        ]
    }
    for _ in range(2):  # the same points twice, no idempotency key: each upsert meets the rows of the first
        assert (await client.post("/v1/measurements", json=counts)).status_code == 202
        answer = await client.post("/v1/measurements", json=values)
        assert answer.status_code == 202, answer.text

    minute0 = int(NOW.timestamp()) // 60
    assert await bucket_rows(app, MinuteBucket) == [(minute0, 18, 20), (minute0 + 61, 6, 8)]
    assert sum(r[1] for r in await bucket_rows(app, HourBucket)) == 24
    assert [(r[1], r[2]) for r in await bucket_rows(app, DayBucket)] in ([(24, 28)], [(18, 20), (6, 8)])
    async with app.state.db.sessionmaker() as session:
        query = select(HourBucket.changes).where(HourBucket.tenant == "acme", HourBucket.indicator == "availability")
        assert list((await session.execute(query)).scalars()) == [2, 2]  # each batch counted once in each hour it wrote

    params = {"service": "payments", "indicator": "latency", "kind": "values", "threshold": 10}
    span = {"start": stamp(-60 * 24), "end": stamp(60 * 24)}
    for granularity in ("minute", "hour", "day"):
        found = (await client.get("/v1/series", params={**params, **span, "granularity": granularity})).json()
        assert [(b["good"], b["total"]) for b in found["buckets"]] == [(4, 6)], granularity
