"""Data sources (OpenSLO DataSource, type prometheus) and the PromQL series measurement pulls from them."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal, NoReturn

import httpx
from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from slm_measurement import catalog_keys
from slm_measurement.ingest import Point
from slm_measurement.pull import repository, service
from slm_measurement.pull.models import DataSource, PulledSeries
from slm_shared.auth import Principal
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES, Conflict, FieldError, NotFound, Unprocessable
from slm_shared.web.bounds import BoundedDatetime, StorableStr, StoredAnyHttpUrl
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["data sources"], responses=PROBLEM_RESPONSES)
Query = Annotated[str, Field(min_length=1, max_length=4000, description="PromQL")]


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bearer_token: StorableStr = Field(min_length=1, max_length=2000)


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: StorableStr = Field(min_length=1, max_length=200)
    password: StorableStr = Field(min_length=1, max_length=1000)


class DataSourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    type: Literal["prometheus"] = "prometheus"
    url: StoredAnyHttpUrl = Field(description="the Prometheus server, e.g. http://prometheus.monitoring:9090")
    auth: BearerAuth | BasicAuth | None = Field(None, description="sent on every query; never shown again")


class DataSourcePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    type: str
    url: str
    authenticated: bool
    stopped_at: datetime | None = Field(
        None, description="when the OpenSLO document that defined it was deleted: not queried, its series not pulled"
    )


class SeriesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=64)
    indicator: str = Field(min_length=1, max_length=128, pattern=r"^[^#]+$")
    data_source: str = Field(description="the data source's name")
    good_query: Query | None = Field(None, description="good events per step, e.g. sum(increase(ok_total[1m]))")
    total_query: Query | None = Field(None, description="all events per step")
    value_query: Query | None = Field(None, description="threshold indicators: the value at each step")
    step_seconds: int = Field(60, ge=15, le=3600, description="the step of the range queries")

    @model_validator(mode="after")
    def _one_form(self) -> SeriesCreate:
        if self.value_query is None and (self.good_query is None or self.total_query is None):
            raise ValueError("give good_query and total_query (a ratio), or value_query (a threshold)")
        if self.value_query is not None and (self.good_query or self.total_query):
            raise ValueError("a value_query stands alone")
        return self


class SeriesPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    service_key: str
    indicator: str
    data_source_id: str
    good_query: str | None
    total_query: str | None
    value_query: str | None
    step_seconds: int
    covered_from: datetime | None
    pulled_until: datetime | None
    state: Literal["pending", "ok", "source_down", "query_error", "no_data"] = Field(
        description="the last pull: ok, source_down (unreachable or failing), query_error (PromQL refused), no_data"
    )
    detail: str
    checked_at: datetime | None
    stopped_at: datetime | None = Field(
        None, description="when the OpenSLO document that wired it was deleted: no longer pulled, its data kept"
    )


class PullOutcome(BaseModel):
    points: int
    series: SeriesPublic


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: BoundedDatetime = Field(description="pull the source's history from here up to what was already pulled")


def _auth_header(auth: BearerAuth | BasicAuth | None) -> str | None:
    if isinstance(auth, BearerAuth):
        return f"Bearer {auth.bearer_token}"
    if isinstance(auth, BasicAuth):
        return "Basic " + base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
    return None


def _public(source: DataSource) -> DataSourcePublic:
    return DataSourcePublic(
        id=source.id,
        name=source.name,
        type=source.type,
        url=source.url,
        authenticated=bool(source.auth_header),
        stopped_at=source.stopped_at,
    )


@router.post("/datasources", status_code=status.HTTP_201_CREATED, response_model=DataSourcePublic)
async def create_data_source(data: DataSourceCreate, principal: StaffDep, session: SessionDep) -> DataSourcePublic:
    """Register a Prometheus server to pull SLIs from; one stopped by its OpenSLO document's deletion is registered
    again (the same id)."""
    held = await repository.data_source_named(session, principal, data.name)
    if held is not None and held.stopped_at is not None:
        await repository.register_again(
            session, principal, held, url=str(data.url).rstrip("/"), auth_header=_auth_header(data.auth)
        )
        return _public(held)
    if held is not None:
        raise Conflict(f"A data source named {data.name} exists", errors=[FieldError(field="name", message="taken")])
    source = DataSource(
        tenant=principal.tenant,
        name=data.name,
        type=data.type,
        url=str(data.url).rstrip("/"),
        auth_header=_auth_header(data.auth),
    )
    await repository.add_data_source(session, principal, source)
    return _public(source)


@router.get("/datasources", response_model=Page[DataSourcePublic])
async def list_data_sources(principal: StaffDep, session: SessionDep, page: PageDep) -> Page[DataSourcePublic]:
    """The tenant's data sources (credentials are never shown)."""
    rows = await repository.data_sources(session, principal)
    chosen = rows[page.offset : page.offset + page.limit]
    return Page(items=[_public(s) for s in chosen], total=len(rows), limit=page.limit, offset=page.offset)


async def _usable_source(session: SessionDep, principal: Principal, name: str) -> DataSource:
    source = await repository.data_source_named(session, principal, name)
    if source is None:
        raise Unprocessable(f"No data source {name}", errors=[FieldError(field="data_source", message="unknown")])
    if source.stopped_at is not None:
        _refuse_stopped(name)
    return source


def _refuse_stopped(name: str) -> NoReturn:
    raise Unprocessable(
        f"The data source {name} was stopped when its OpenSLO document was deleted: apply it again, or register "
        "it again with POST /v1/datasources",
        errors=[FieldError(field="data_source", message="stopped")],
    )


@router.post("/pulled-series", status_code=status.HTTP_201_CREATED, response_model=SeriesPublic)
async def create_pulled_series(
    data: SeriesCreate, principal: StaffDep, session: SessionDep, request: Request
) -> PulledSeries:
    """Measure a series by PromQL: pulled every step into the same rollups as pushed points."""
    source = await _usable_source(session, principal, data.data_source)
    probe = [Point(service=data.service, indicator=data.indicator, timestamp=utcnow())]
    mode = request.app.state.settings.unknown_series
    await catalog_keys.check_batch(session, tenant=principal.tenant, batch=probe, mode=mode)
    if await repository.series_pulled_already(session, principal, service_key=data.service, indicator=data.indicator):
        raise Conflict(
            "That series is pulled already", errors=[FieldError(field="indicator", message="pulled already")]
        )
    series = PulledSeries(
        tenant=principal.tenant,
        data_source_id=source.id,
        service_key=data.service,
        indicator=data.indicator,
        good_query=data.good_query,
        total_query=data.total_query,
        value_query=data.value_query,
        step_seconds=data.step_seconds,
    )
    await repository.add_pulled_series(session, principal, series)
    return series


@router.get("/pulled-series", response_model=Page[SeriesPublic])
async def list_pulled_series(principal: StaffDep, session: SessionDep, page: PageDep) -> Page[SeriesPublic]:
    """Every pulled series with the outcome of its last pull."""
    rows = await repository.all_pulled_series(session, principal)
    chosen = rows[page.offset : page.offset + page.limit]
    return Page(
        items=[SeriesPublic.model_validate(s) for s in chosen], total=len(rows), limit=page.limit, offset=page.offset
    )


async def _series(session: SessionDep, principal: Principal, series_id: str) -> tuple[PulledSeries, DataSource]:
    found = await repository.pulled_series_with_source(session, principal, series_id)
    if found is None:
        raise NotFound(f"No pulled series {series_id}")
    return found


@router.get("/pulled-series/{series_id}", response_model=SeriesPublic)
async def get_pulled_series(
    series_id: Annotated[str, Path(max_length=36)], principal: StaffDep, session: SessionDep
) -> PulledSeries:
    """One pulled series and its last outcome."""
    return (await _series(session, principal, series_id))[0]


class SeriesQueries(SeriesCreate):
    """A series' new queries: the same series and indicator, measured from the next step on by these."""

    service: str | None = Field(None, min_length=1, max_length=64, description="unchanged; must match if given")  # type: ignore[assignment]
    indicator: str | None = Field(None, min_length=1, max_length=128, description="unchanged; must match if given")  # type: ignore[assignment]


@router.put("/pulled-series/{series_id}", response_model=SeriesPublic)
async def change_pulled_series(
    series_id: Annotated[str, Path(max_length=36)], data: SeriesQueries, principal: StaffDep, session: SessionDep
) -> PulledSeries:
    """Change a series' source and queries (its SLI changed): steps pulled so far stay, later ones use these.

    A series stopped by the deletion of its OpenSLO document is pulled again."""
    series, _ = await _series(session, principal, series_id)
    for name, given, held in (
        ("service", data.service, series.service_key),
        ("indicator", data.indicator, series.indicator),
    ):
        if given is not None and given != held:
            raise Unprocessable(
                f"A series keeps its {name}; pull {given} as a new series",
                errors=[FieldError(field=name, message=f"is {held}")],
            )
    source = await _usable_source(session, principal, data.data_source)
    await repository.change_series_queries(
        session,
        principal,
        series,
        source=source,
        good_query=data.good_query,
        total_query=data.total_query,
        value_query=data.value_query,
        step_seconds=data.step_seconds,
    )
    return series


@router.post("/pulled-series/{series_id}/replay", response_model=PullOutcome)
async def replay_pulled_series(
    series_id: Annotated[str, Path(max_length=36)],
    data: ReplayRequest,
    principal: StaffDep,
    session: SessionDep,
    request: Request,
) -> PullOutcome:
    """Pull the source's history (query_range) from `start`, e.g. the start of a new objective's window."""
    series, source = await _series(session, principal, series_id)
    if data.start >= utcnow():
        raise Unprocessable("start must be in the past", errors=[FieldError(field="start", message="in the future")])
    if source.stopped_at is not None:  # its OpenSLO document was deleted: asked nothing until applied or registered
        _refuse_stopped(source.name)
    async with httpx.AsyncClient(timeout=request.app.state.settings.pull_timeout_seconds) as client:
        outcome = await service.replay(session, client, series=series, source=source, start=data.start)
    return PullOutcome(points=outcome.points, series=SeriesPublic.model_validate(series))


@router.get("/objectives/{objective_id}/sources", response_model=list[SeriesPublic])
async def objective_sources(
    objective_id: Annotated[str, Path(max_length=64)], principal: ReaderDep, session: SessionDep
) -> list[SeriesPublic]:
    """Where an objective's data is pulled from, and how the last pull went (source down, query error, no data)."""
    rows = await repository.sources_of_objective(session, principal, objective_id)
    if rows is None:
        raise NotFound(f"No objective {objective_id}")
    return [SeriesPublic.model_validate(s) for s in rows]
