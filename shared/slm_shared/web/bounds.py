"""Bounds on numbers, instants and text taken at the edge, shared by every service's API models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import Path
from pydantic import AfterValidator, AnyHttpUrl, AnyUrl, AwareDatetime, HttpUrl

from slm_shared.terms.openslo_credentials import URL_MAX_LENGTH

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


def storable(value: str) -> str:
    """The value, if a column can keep it; raises ValueError (`NUL_REFUSED`) if it holds U+0000."""
    if "\x00" in value:
        raise ValueError(NUL_REFUSED)
    return value


StorableStr = Annotated[str, AfterValidator(storable)]


U = TypeVar("U", bound=AnyUrl)


def _url_fits(value: U) -> U:
    # checked as stored (str of the URL): normalising can lengthen it (percent-encoding, IDNA host names)
    if len(str(value)) > URL_MAX_LENGTH:
        raise ValueError(f"a URL is at most {URL_MAX_LENGTH} characters (as stored, percent-encoded)")
    return value


# A URL kept in a column of URL_MAX_LENGTH characters (the bound an applied OpenSLO data source's URL has too):
# a longer one is refused naming its field, where PostgreSQL refused the write (a 500).
StoredHttpUrl = Annotated[HttpUrl, AfterValidator(_url_fits)]
StoredAnyHttpUrl = Annotated[AnyHttpUrl, AfterValidator(_url_fits)]
