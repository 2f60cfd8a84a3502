"""Bounds on numbers, instants and text taken at the edge, shared by every service's API models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import Path
from pydantic import AfterValidator, AnyHttpUrl, AnyUrl, AwareDatetime, Field, HttpUrl

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
# Nor can either keep a lone surrogate (a valid JSON escape, `"\\ud800"`, but no character): the driver must encode
# the text as UTF-8, which has no encoding for it (a 500 on SQLite and PostgreSQL alike).
SURROGATE_REFUSED = "holds a lone surrogate (U+D800 to U+DFFF), which UTF-8, and so no stored text, can hold"
# JSON text is UTF-8: a string holding bytes that are not is refused where it stands, as a lone surrogate is.
NOT_UTF8_REFUSED = "holds bytes that are not UTF-8 (as JSON text must be), which no stored text can hold"
# Where a document holds both, and the string found could be either.
UNENCODABLE_REFUSED = "holds a lone surrogate or bytes that are not UTF-8, which no stored text can hold"


def encodes(value: str) -> bool:
    """Whether UTF-8 can encode `value` (it holds no lone surrogate)."""
    if value.isascii():  # ASCII always encodes; the rest is encoded once to find out
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def storable(value: str) -> str:
    """The value, if a column can keep it; raises ValueError if it holds U+0000 (`NUL_REFUSED`) or text UTF-8
    cannot encode, a lone surrogate (`SURROGATE_REFUSED`)."""
    if "\x00" in value:
        raise ValueError(NUL_REFUSED)
    if not encodes(value):
        raise ValueError(SURROGATE_REFUSED)
    return value


StorableStr = Annotated[str, AfterValidator(storable)]


def text_refusal(value: str, bound: int) -> str | None:
    """Why a column of `bound` characters cannot keep `value` (longer, or not `storable`), or None if it can."""
    if len(value) > bound:
        return f"is longer than {bound} characters"
    try:
        storable(value)
    except ValueError as exc:
        return str(exc)
    return None


# Who acted, as a token's `sub` names them, is kept in columns of this many characters in every service
# (`created_by`, `actor_subject`, `recorded_by`, `acknowledged_by`, ...): a longer subject is refused at the edge.
ACTOR_MAX_LENGTH = 200
# A party id, as the agreements service mints it (a UUID), and as its party columns keep it: a token's `party`
# names one, and one longer names none (and is refused at the edge).
PARTY_ID_MAX_LENGTH = 36


U = TypeVar("U", bound=AnyUrl)


def _url_fits(value: U) -> U:
    # checked as stored (str of the URL): normalising can lengthen it (percent-encoding, IDNA host names)
    if len(str(value)) > URL_MAX_LENGTH:
        raise ValueError(f"a URL is at most {URL_MAX_LENGTH} characters (as stored, percent-encoded)")
    return value


# A URL kept in a column of URL_MAX_LENGTH characters (the bound an applied OpenSLO data source's URL has too):
# a longer one is refused naming its field, where PostgreSQL refused the write (a 500).
# OpenAPI shows the bound the server keeps (pydantic's own `HttpUrl` says 2083, `AnyHttpUrl` nothing).
_URL_SCHEMA = Field(json_schema_extra={"maxLength": URL_MAX_LENGTH})
StoredHttpUrl = Annotated[HttpUrl, AfterValidator(_url_fits), _URL_SCHEMA]
StoredAnyHttpUrl = Annotated[AnyHttpUrl, AfterValidator(_url_fits), _URL_SCHEMA]
