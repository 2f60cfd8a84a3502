"""The OpenSLO documents as they were applied, kept so that export gives them back unchanged."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from slm_shared.db import UTCDateTime, utcnow


class OpenSLODocument(SQLModel, table=True):
    __tablename__ = "openslo_documents"
    __table_args__ = (UniqueConstraint("tenant", "kind", "name", name="uq_openslo_documents_kind_name"),)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    position: int
    api_version: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    name: str = Field(max_length=63)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ReleasedService(SQLModel, table=True):
    """A catalogue service an OpenSLO Service document made, whose document was deleted (the service stays): applying
    the document again takes it back instead of finding its key taken."""

    __tablename__ = "openslo_released_services"

    tenant: str = Field(max_length=64, primary_key=True)
    key: str = Field(max_length=63, primary_key=True)
    released_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


async def released_services(session: AsyncSession, *, tenant: str) -> set[str]:
    """Keys of the services whose Service documents were deleted in this tenant."""
    keys = await session.scalars(select(col(ReleasedService.key)).where(col(ReleasedService.tenant) == tenant))
    return set(keys)


async def release_service(session: AsyncSession, *, tenant: str, key: str) -> None:
    """Remember that the deleted Service document's service is the documents' to take back."""
    if await session.get(ReleasedService, (tenant, key)) is None:
        session.add(ReleasedService(tenant=tenant, key=key))
    await session.flush()


async def existing(session: AsyncSession, *, tenant: str) -> dict[tuple[str, str], OpenSLODocument]:
    """The tenant's applied documents; on PostgreSQL, applies in one tenant take turns from here on."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"openslo:{tenant}"})
    rows = await session.scalars(select(OpenSLODocument).where(col(OpenSLODocument.tenant) == tenant))
    return {(row.kind, row.name): row for row in rows}


def replace(row: OpenSLODocument, body: dict[str, Any]) -> None:
    """A document applied again with changes: the new body, in the place the first one had."""
    row.api_version = body["apiVersion"]
    row.body = body


async def remove(session: AsyncSession, row: OpenSLODocument) -> None:
    """A deleted document: export gives it no more; the others keep their places."""
    await session.delete(row)
    await session.flush()


async def add(session: AsyncSession, *, tenant: str, documents: list[dict[str, Any]]) -> None:
    start = await session.scalar(
        select(func.coalesce(func.max(col(OpenSLODocument.position)), -1)).where(col(OpenSLODocument.tenant) == tenant)
    )
    for offset, body in enumerate(documents, start=int(start or -1) + 1):
        session.add(
            OpenSLODocument(
                tenant=tenant,
                position=offset,
                api_version=body["apiVersion"],
                kind=body["kind"],
                name=body["metadata"]["name"],
                body=body,
            )
        )
    await session.flush()


async def all_documents(session: AsyncSession, *, tenant: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(col(OpenSLODocument.body))
        .where(col(OpenSLODocument.tenant) == tenant)
        .order_by(col(OpenSLODocument.position))
    )
    return [dict(body) for body in rows]
