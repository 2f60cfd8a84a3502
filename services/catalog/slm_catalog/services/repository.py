"""Service SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from slm_catalog.models import Service

SERVICES = Service.__table__  # type: ignore[attr-defined]
_SORT_COLUMNS: dict[str, Mapped[Any]] = {
    "key": col(Service.key),
    "name": col(Service.name),
    "created_at": col(Service.created_at),
    "updated_at": col(Service.updated_at),
}


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


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(
    query: Select[Any],
    *,
    tenant: str,
    type: str | None,
    lifecycle: str | None,
    tag: str | None,
    owner: str | None,
    text: str | None,
) -> Select[Any]:
    query = query.where(col(Service.tenant) == tenant)
    if type:
        query = query.where(col(Service.type) == type)
    if lifecycle:
        query = query.where(col(Service.lifecycle) == lifecycle)
    if owner:
        query = query.where(func.lower(Service.owner_team) == owner.lower())
    if tag:
        encoded = _like_escaped(f'"{tag}"')
        query = query.where(cast(Service.tags, String).like(f"%{encoded}%", escape="\\"))
    if text:
        pattern = f"%{_like_escaped(text.lower())}%"
        query = query.where(
            or_(
                func.lower(Service.name).like(pattern, escape="\\"),
                func.lower(Service.key).like(pattern, escape="\\"),
                func.lower(Service.description).like(pattern, escape="\\"),
            )
        )
    return query


def _ordered(query: Select[Any], sort: str) -> Select[Any]:
    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = [column.desc(), col(Service.id).desc()] if sort.startswith("-") else [column, col(Service.id)]
    return query.order_by(*order)


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
    query = _filtered(select(Service), tenant=tenant, type=type, lifecycle=lifecycle, tag=tag, owner=owner, text=text)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(_ordered(query, sort).limit(limit).offset(offset))
    return rows.all(), total


def service_page(
    connection: Connection,
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
) -> tuple[Sequence[Row[Any]], int]:
    """`list_services` as Core rows, for the hot list read (same filters, same order)."""
    query = _filtered(select(SERVICES), tenant=tenant, type=type, lifecycle=lifecycle, tag=tag, owner=owner, text=text)
    total = connection.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = connection.execute(_ordered(query, sort).limit(limit).offset(offset)).all()
    return rows, total
