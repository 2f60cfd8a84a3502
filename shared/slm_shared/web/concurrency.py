"""Optimistic concurrency (ETag / If-Match) and idempotent creation (Idempotency-Key)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Column, Integer, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from slm_shared.auth import PrincipalDep
from slm_shared.db import UTCDateTime, utcnow
from slm_shared.errors import Conflict, PreconditionFailed, Unprocessable
from slm_shared.web.deps import SessionDep


def etag_for(entity_id: str, version: int) -> str:
    """A strong ETag for one version of an entity."""
    return f'"{entity_id}.{version}"'


def check_if_match(if_match: str | None, current: str) -> None:
    """Refuse an update whose If-Match names another version (412)."""
    if if_match is None or if_match.strip() == "*":
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if current not in candidates:
        raise PreconditionFailed(
            f"The resource has changed (current ETag {current}); fetch it again and retry",
        )


async def lock_and_check_if_match(
    session: AsyncSession, entity: Any, if_match: str | None, *, version_field: str = "version"
) -> None:
    """Lock the entity's row until commit, reload it and refuse a stale If-Match (412).

    Comparing after the lock makes the check atomic: a concurrent writer holding the same ETag
    waits here and then sees the version the first one committed.
    """
    await session.refresh(entity, with_for_update=True)
    check_if_match(if_match, etag_for(entity.id, getattr(entity, version_field)))


IfMatch = Annotated[str | None, Header(alias="If-Match", description="ETag from a previous read")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="repeat-safe creation key"),
]


class IdempotencyRecord(SQLModel, table=True):
    """The response given to a creation request with an Idempotency-Key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant", "key", name="uq_idempotency_tenant_key"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    tenant: str = Field(max_length=64)
    key: str = Field(max_length=255)
    scope: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    body: Any = Field(sa_column=Column(JSON, nullable=False))
    headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


async def _request_fingerprint(request: Request) -> tuple[str, str]:
    scope = f"{request.method} {request.url.path}"
    digest = hashlib.sha256(await request.body()).hexdigest()
    return scope, digest


async def replay_idempotent(
    session: AsyncSession, request: Request, *, tenant: str, key: str | None
) -> JSONResponse | None:
    """The stored response for a repeated key, or None to go ahead and create."""
    if not key:
        return None
    scope, digest = await _request_fingerprint(request)
    record = await session.scalar(
        select(IdempotencyRecord).where(col(IdempotencyRecord.tenant) == tenant, col(IdempotencyRecord.key) == key)
    )
    if record is None:
        return None
    if record.scope != scope or record.request_hash != digest:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request",
            problem_type="idempotency-key-reused",
        )
    return JSONResponse(
        record.body, status_code=record.status_code, headers={**record.headers, "Idempotent-Replayed": "true"}
    )


async def remember_idempotent(
    session: AsyncSession,
    request: Request,
    *,
    tenant: str,
    key: str | None,
    status_code: int,
    body: BaseModel | Any,
    headers: dict[str, str] | None = None,
) -> None:
    """Store the response for `key` in the same transaction as the creation."""
    if not key:
        return
    scope, digest = await _request_fingerprint(request)
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else json.loads(json.dumps(body, default=str))
    session.add(
        IdempotencyRecord(
            tenant=tenant,
            key=key,
            scope=scope,
            request_hash=digest,
            status_code=status_code,
            body=payload,
            headers=headers or {},
        )
    )
    try:
        await session.flush()
    except Exception as exc:
        raise Conflict("A request with this Idempotency-Key is already in progress") from exc


@dataclass
class Idempotency:
    """A creation request's Idempotency-Key, bound to its tenant and transaction."""

    session: AsyncSession
    request: Request
    tenant: str
    key: str | None

    async def replay(self) -> JSONResponse | None:
        """The response stored for a repeated key, or None to go ahead and create."""
        return await replay_idempotent(self.session, self.request, tenant=self.tenant, key=self.key)

    async def remember(
        self, body: BaseModel | Any, *, status_code: int = 201, headers: dict[str, str] | None = None
    ) -> None:
        """Store the response for this key in the same transaction as the creation."""
        await remember_idempotent(
            self.session,
            self.request,
            tenant=self.tenant,
            key=self.key,
            status_code=status_code,
            body=body,
            headers=headers,
        )


async def get_idempotency(
    request: Request, session: SessionDep, principal: PrincipalDep, key: IdempotencyKey = None
) -> Idempotency:
    return Idempotency(session=session, request=request, tenant=principal.tenant, key=key)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
