"""Dependency aliases every router uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from slm_shared.auth import ADMIN, CUSTOMER, INGEST, MANAGER, Principal, require_roles
from slm_shared.reads import Reader

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction: commit on success, roll back on error; reads take no write lock."""
    async with request.app.state.db.session(read_only=request.method in READ_METHODS) as session:
        yield session


async def get_reader(request: Request) -> Reader:
    """Hot reads in one snapshot, outside the request transaction (see `slm_shared.reads`).

    A coroutine, as every dependency on a hot path: FastAPI runs a plain function in a worker thread.
    """
    reader: Reader = request.app.state.db.reader
    return reader


# scope="function": commit before the response is sent, so a 2xx means the change is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
AdminDep = Annotated[Principal, Depends(require_roles(ADMIN))]
StaffDep = Annotated[Principal, Depends(require_roles(ADMIN, MANAGER))]
# The reader roles' dependency itself: also called by hand where a route answers without resolving dependencies
# (`slm_shared.web.direct_route`), so both run this one object.
READER_ROLES = require_roles(ADMIN, MANAGER, CUSTOMER)
ReaderDep = Annotated[Principal, Depends(READER_ROLES)]
IngestDep = Annotated[Principal, Depends(require_roles(ADMIN, INGEST))]
ReadsDep = Annotated[Reader, Depends(get_reader)]
