"""Conditional GET: a strong ETag of the body a read answers with, and 304 Not Modified when the client has it.

The tag is a digest of the exact bytes of the body, so it changes whenever anything in the body does,
and it is computed only after the read, that is after the token, the tenant and the party were checked:
a 304 is only ever the answer to a body this principal may read, and says nothing about anyone else's.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request, Response

NOT_MODIFIED_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: `If-None-Match` names the current `ETag`; no body"},
}
IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETag of a previous answer; 304 with no body while the answer is the same",
    "schema": {"type": "string"},
}
CONDITIONAL_OPENAPI: dict[str, Any] = {"parameters": [IF_NONE_MATCH_PARAMETER]}


def body_etag(body: bytes) -> str:
    """A strong ETag for these exact bytes."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def none_match(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, RFC 9110 13.1.2), or is `*`."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def conditional_json(request: Request, body: bytes, etag: str | None = None) -> Response:
    """The JSON body with its ETag, or 304 Not Modified (no body, the same ETag) when If-None-Match names it.

    `etag`, when given, is `body_etag(body)` computed before (kept with the body, not digested again per read)."""
    etag = body_etag(body) if etag is None else etag
    headers = {"ETag": etag, "Vary": "Authorization"}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
