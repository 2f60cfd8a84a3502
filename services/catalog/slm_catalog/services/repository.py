"""Service SQL."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, String, bindparam, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog.models import CatalogueGeneration, Service
from slm_catalog.services.schemas import ServicePublic
from slm_shared.reads import Reader

SERVICES = Service.__table__  # type: ignore[attr-defined]
GENERATIONS = CatalogueGeneration.__table__  # type: ignore[attr-defined]
_GENERATION = select(GENERATIONS.c.generation).where(GENERATIONS.c.tenant == bindparam("tenant"))
_SORT_COLUMNS = ("key", "name", "created_at", "updated_at")
# The columns a page's body is written from (`page_json`): the answer's fields, not the tenant the query binds.
_BODY_COLUMNS = tuple(SERVICES.c[name] for name in ServicePublic.model_fields)


async def get_service(session: AsyncSession, *, tenant: str, service_id: str) -> Service | None:
    row = await session.scalar(select(Service).where(col(Service.tenant) == tenant, col(Service.id) == service_id))
    return row


async def get_service_by_key(session: AsyncSession, *, tenant: str, key: str) -> Service | None:
    row = await session.scalar(select(Service).where(col(Service.tenant) == tenant, col(Service.key) == key))
    return row


async def services_by_id(session: AsyncSession, *, tenant: str, ids: Iterable[str]) -> dict[str, Service]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Service).where(col(Service.tenant) == tenant, col(Service.id).in_(wanted)))
    return {row.id: row for row in rows}


async def all_services(session: AsyncSession, *, tenant: str) -> Sequence[Service]:
    rows = await session.scalars(select(Service).where(col(Service.tenant) == tenant).order_by(col(Service.key)))
    return rows.all()


async def catalogue_generation(reads: Reader, *, tenant: str) -> str | None:
    """The tenant's catalogue generation: a value its database triggers change on every write of a row of the
    services table (one statement, no transaction), or None while the tenant has never had a service."""
    found = await reads.first(_GENERATION, {"tenant": tenant})
    return None if found is None else str(found.generation)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ordered(query: Select[Any], sort: str) -> Select[Any]:
    name = sort.lstrip("-")
    if name not in _SORT_COLUMNS:
        raise KeyError(sort)
    column, row_id = SERVICES.c[name], SERVICES.c.id
    return query.order_by(*([column.desc(), row_id.desc()] if sort.startswith("-") else [column, row_id]))


def _bound(
    *,
    tenant: str,
    limit: int,
    offset: int,
    type: str | None,
    lifecycle: str | None,
    tag: str | None,
    owner: str | None,
    text: str | None,
) -> tuple[frozenset[str], dict[str, Any]]:
    """The filters given and the values bound to `_page_statements`' parameters."""
    params: dict[str, Any] = {"tenant": tenant, "limit": limit, "offset": offset}
    if type:
        params["type"] = type
    if lifecycle:
        params["lifecycle"] = lifecycle
    if owner:
        params["owner"] = owner.lower()
    if tag:
        encoded = _like_escaped(f'"{tag}"')
        params["tag"] = f"%{encoded}%"
    if text:
        params["text"] = f"%{_like_escaped(text.lower())}%"
    return frozenset(params) - {"tenant", "limit", "offset"}, params


async def list_services(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    type: str | None = None,
    lifecycle: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    sort: str = "key",
) -> tuple[Sequence[Service], int]:
    """One page of services matching every given filter, in a stable order."""
    filters, params = _bound(
        tenant=tenant, limit=limit, offset=offset, type=type, lifecycle=lifecycle, tag=tag, owner=owner, text=text
    )
    page, count = _page_statements(filters, sort)
    total = (await session.execute(count, params)).scalar() or 0
    rows = await session.scalars(select(Service).from_statement(page), params)
    return rows.all(), total


async def service_page(
    reads: Reader,
    *,
    tenant: str,
    limit: int,
    offset: int,
    type: str | None = None,
    lifecycle: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    sort: str = "key",
) -> tuple[Sequence[Any], int]:
    """`list_services` as rows of the services table, for the hot list read (same filters, same order): each
    row the columns of `ServicePublic` and `matching` (past the last page, every column).

    The page and its total agree: they come from one statement (each row carries the number of services
    matching, `matching`, counted by a subquery the database runs once), one round trip on PostgreSQL and no
    transaction anywhere. Past the last page that statement finds no rows and so no total; then the count
    and the page are read in one snapshot.
    """
    filters, params = _bound(
        tenant=tenant, limit=limit, offset=offset, type=type, lifecycle=lifecycle, tag=tag, owner=owner, text=text
    )
    rows = await reads.rows(_counted_page_statement(filters, sort), params)
    if rows or offset == 0:
        return rows, rows[0].matching if rows else 0
    page, count = _page_statements(filters, sort)

    def page_and_total(connection: Connection) -> tuple[Sequence[Any], int]:
        total = connection.execute(count, params).scalar() or 0
        return (connection.execute(page, params).all() if total > offset else []), total

    return await reads.read(page_and_total)


@functools.cache
def _counted_page_statement(filters: frozenset[str], sort: str) -> Select[Any]:
    """The page's body columns with, on every row, how many services match (`matching`), built once per filters
    and sort.

    The count is an uncorrelated scalar subquery, run once per statement, where a window count would first
    gather every matching row in full before the page's first."""
    page, count = _page_statements(filters, sort)
    return page.with_only_columns(*_BODY_COLUMNS, count.scalar_subquery().label("matching"))


@functools.cache
def _page_statements(filters: frozenset[str], sort: str) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements for one combination of filters, built once: values are bound per call,
    so neither is rebuilt nor has its cache key computed again per request."""
    query = select(SERVICES).where(SERVICES.c.tenant == bindparam("tenant"))
    if "type" in filters:
        query = query.where(SERVICES.c.type == bindparam("type"))
    if "lifecycle" in filters:
        query = query.where(SERVICES.c.lifecycle == bindparam("lifecycle"))
    if "owner" in filters:
        query = query.where(func.lower(SERVICES.c.owner_team) == bindparam("owner"))
    if "tag" in filters:
        query = query.where(cast(SERVICES.c.tags, String).like(bindparam("tag"), escape="\\"))
    if "text" in filters:
        pattern = bindparam("text", type_=String)
        query = query.where(
            or_(
                func.lower(SERVICES.c.name).like(pattern, escape="\\"),
                func.lower(SERVICES.c.key).like(pattern, escape="\\"),
                func.lower(SERVICES.c.description).like(pattern, escape="\\"),
            )
        )
    count = select(func.count()).select_from(query.subquery())
    return _ordered(query, sort).limit(bindparam("limit")).offset(bindparam("offset")), count
