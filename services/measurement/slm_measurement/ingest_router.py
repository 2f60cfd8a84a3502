"""Measurement HTTP API for data: batch ingestion and series read-back for charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import buckets, catalog_keys, service
from slm_measurement.buckets import GRANULARITY_SECONDS
from slm_measurement.domain.histogram import count_at_or_below, quantile
from slm_measurement.ingest import MAX_COUNT, Batch, ColumnarBatch, Point, decode_batch
from slm_measurement.schemas import Granularity, IngestAccepted, SeriesBucket, SeriesPublic
from slm_measurement.series_access import readable_series
from slm_shared.auth import Principal
from slm_shared.errors import BRACKETS_FIELD_NAMES, PROBLEM_RESPONSES, FieldError, ProblemError, Unprocessable
from slm_shared.web.concurrency import Idempotency, IdempotencyKey
from slm_shared.web.deps import IngestDep, ReaderDep, SessionDep

router = APIRouter(prefix="/v1", tags=["measurements"], responses=PROBLEM_RESPONSES)

NDJSON = "application/x-ndjson"
MAX_SERIES_BUCKETS = 10_000
_COMPONENTS = msgspec.json.schema_components([Point, ColumnarBatch], ref_template="#/components/schemas/{name}")[1]
POINT_SCHEMA = {**_COMPONENTS["Point"]}
COLUMNAR_SCHEMA = {
    **_COMPONENTS["ColumnarBatch"],
    "properties": {"series": {"type": "array", "items": _COMPONENTS["Columns"]}},
}
POINTS_BODY = {
    **BRACKETS_FIELD_NAMES,  # every refusal of a batch names its field as `[3].good`, `series[0].indicator`
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"type": "array", "items": POINT_SCHEMA}, COLUMNAR_SCHEMA]},
            },
            NDJSON: {"schema": POINT_SCHEMA},
        },
    },
}


@router.post(
    "/measurements",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAccepted,
    openapi_extra=POINTS_BODY,
)
async def ingest_measurements(principal: IngestDep, request: Request, key: IdempotencyKey = None) -> object:
    """Store a batch of points (JSON array, NDJSON or columnar arrays per series); all or nothing."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", NDJSON):
        raise ProblemError(f"Send application/json or {NDJSON}, not {content_type}", status=415)
    batch = decode_batch(await request.body(), ndjson=content_type == NDJSON)  # once, outside the transaction

    async def ingest(session: AsyncSession, guarded: bool) -> object:
        return await _ingest(session, principal, request, key, batch, guarded=guarded)

    # Its own transaction, tried again if the inline evaluation fails (see the helper).
    return await service.ingest_with_guarded_retry(request.app.state.db, ingest)


async def _ingest(
    session: AsyncSession, principal: Principal, request: Request, key: str | None, batch: Batch, *, guarded: bool
) -> object:
    idempotency = Idempotency(session=session, request=request, tenant=principal.tenant, key=key)
    if replay := await idempotency.replay():
        return replay
    settings = request.app.state.settings
    limits = service.IngestLimits(
        max_lateness=timedelta(seconds=settings.max_lateness_seconds),
        max_future=timedelta(seconds=settings.max_future_seconds),
    )
    warnings, force = await catalog_keys.check_batch_in_force(
        session, tenant=principal.tenant, batch=batch, mode=settings.unknown_series
    )
    body = IngestAccepted(
        accepted=await service.ingest_batch(
            session,
            tenant=principal.tenant,
            batch=batch,
            limits=limits,
            force=force,
            evaluate_up_to=settings.ingest_evaluation_limit,
            evaluate_every=timedelta(seconds=settings.ingest_evaluation_interval_seconds),
            guarded=guarded,
        ),
        warnings=warnings,
    )
    await idempotency.remember(body, status_code=202)
    return body


def _bucket_start(index: int, granularity: str) -> datetime:
    return datetime.fromtimestamp(index * GRANULARITY_SECONDS[granularity], tz=UTC)


@router.get("/series", response_model=SeriesPublic)
async def read_series(
    principal: ReaderDep,
    session: SessionDep,
    service_key: Annotated[str, Query(alias="service", min_length=1, max_length=64)],
    indicator: Annotated[str, Query(min_length=1, max_length=128)],
    start: datetime,
    end: datetime,
    granularity: Granularity = "hour",
    kind: Annotated[str, Query(pattern="^(counts|values)$")] = "counts",
    scope: Annotated[str | None, Query(max_length=128, description="one scope; all summed when absent")] = None,
    threshold: Annotated[
        float | None,
        Query(
            ge=0, le=MAX_COUNT, description="values: samples at or below, within one 2% bin (objectives count exactly)"
        ),
    ] = None,
) -> SeriesPublic:
    """Read a series back per minute, hour or day bucket, for charts."""
    if start.tzinfo is None or end.tzinfo is None:
        raise Unprocessable(
            "start and end need a UTC offset", errors=[FieldError(field="start", message="needs an offset")]
        )
    size = GRANULARITY_SECONDS[granularity]
    first, stop = int(start.timestamp()) // size, -(-int(end.timestamp()) // size)
    if stop <= first or stop - first > MAX_SERIES_BUCKETS:
        raise Unprocessable(
            f"start must be before end, and at most {MAX_SERIES_BUCKETS} {granularity} buckets apart",
            errors=[FieldError(field="end", message="range empty or too long", type="value_error")],
        )
    query = await readable_series(
        session,
        principal=principal,
        service=service_key,
        indicator=indicator,
        scope=scope,
        granularity=granularity,
        first=first,
        stop=stop,
    )
    points: list[SeriesBucket] = []
    good: float | None
    if kind == "counts":
        for index, good, total in await buckets.series_counts(session, query):
            points.append(
                SeriesBucket(
                    start=_bucket_start(index, granularity),
                    good=good,
                    total=total,
                    ratio=good / total if total else None,
                )
            )
    else:
        per_bucket: dict[int, dict[int, float]] = {}
        for index, bin_index, samples in await buckets.series_bins(session, query):
            per_bucket.setdefault(index, {})[bin_index] = samples
        for index, bins in per_bucket.items():
            total = sum(bins.values())
            good = count_at_or_below(bins, threshold) if threshold is not None else None
            points.append(
                SeriesBucket(
                    start=_bucket_start(index, granularity),
                    good=good,
                    total=total,
                    ratio=good / total if good is not None and total else None,
                    p50=quantile(bins, 0.5),
                    p90=quantile(bins, 0.9),
                    p99=quantile(bins, 0.99),
                )
            )
    return SeriesPublic(
        service=service_key,
        indicator=indicator,
        scope=scope,
        kind=kind,
        granularity=granularity,
        threshold=threshold,
        buckets=points,
    )
