"""Bounds on numbers, instants and text taken at the edge, shared by every service's API models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime

MAX_PATH_INT = 2**31 - 1
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

PathInt = Annotated[int, Path(ge=1, le=MAX_PATH_INT, description="a positive whole number")]


def _within_bounds(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be from {EARLIEST.year} and before {LATEST.year}")
    return value


BoundedDatetime = Annotated[AwareDatetime, AfterValidator(_within_bounds)]


# PostgreSQL's text cannot hold U+0000 (a 500 when stored), and SQLite's JSON functions cut a string at it.
NUL_REFUSED = "holds U+0000 (NUL), which no stored text can hold"


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError(NUL_REFUSED)
    return value


StorableStr = Annotated[str, AfterValidator(_storable)]
