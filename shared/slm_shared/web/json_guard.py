"""JSON that the platform refuses at the edge: non-finite numbers, nesting without bound, and text no column
can keep."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from slm_shared.errors import FieldError
from slm_shared.web.bounds import SURROGATE_REFUSED

MAX_JSON_DEPTH = 64
# Only bodies with something that could parse to NaN or infinity are parsed here a second time.
_SUSPECT = re.compile(rb"NaN|Infinity|[eE]\+?0*[1-9]\d\d|\d{300}")


class JsonRefused(ValueError):
    """A JSON document refused before it reaches the application, with the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _NonFinite:
    """Stands in for a NaN or infinite number while the document is checked."""


_NON_FINITE = _NonFinite()


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def _constant(_text: str) -> _NonFinite:
    return _NON_FINITE


def _check(value: Any, path: list[str], max_depth: int) -> None:
    if value is _NON_FINITE or (isinstance(value, float) and not math.isfinite(value)):
        raise JsonRefused(".".join(path) or "body", "numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict | list):
        if len(path) >= max_depth:
            raise JsonRefused(".".join(path) or "body", f"nested deeper than {max_depth} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            _check(item, [*path, str(key)], max_depth)


def check_document(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Refuse a parsed document (JSON or YAML) with non-finite numbers or nested too deeply (JsonRefused)."""
    _check(value, [], max_depth)
    return value


def load_json(document: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing non-finite numbers and nesting deeper than `max_depth` (JsonRefused)."""
    try:
        value = json.loads(document, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise JsonRefused("body", f"nested deeper than {max_depth} levels") from None
    _check(value, [], max_depth)
    return value


def body_refusal(body: bytes, content_type: str) -> JsonRefused | None:
    """Why a JSON (or NDJSON) request body holds a number no field may take, or None."""
    if "json" not in content_type.lower() or not _SUSPECT.search(body):
        return None
    lines = body.splitlines() if "ndjson" in content_type.lower() else [body]
    for line in lines:
        try:
            load_json(line, max_depth=10_000)
        except JsonRefused as refused:
            return refused
        except ValueError:
            return None  # malformed JSON: the route's own parser says where
    return None


# JSON text is UTF-8; a string holding bytes that are not is refused where it stands, as a lone surrogate is.
NOT_UTF8_REFUSED = "holds bytes that are not UTF-8 (as JSON text must be), which no stored text can hold"
# Text no UTF-8 can encode comes only as a surrogate escape (`\ud800` to `\udfff`) or as bytes that are not UTF-8.
_MAY_HOLD_UNENCODABLE = re.compile(rb"\\u[dD][89a-fA-F]|[\x80-\xff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unencodable_at(value: Any, path: str) -> tuple[str, bool] | None:
    """The path of the first string in `value` holding a surrogate (and whether it is a field's name), or None."""
    if isinstance(value, str):
        return (path, False) if _SURROGATE.search(value) else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := _unencodable_at(item, f"{path}[{index}]"):
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                return path, True
            if found := _unencodable_at(item, f"{path}.{key}"):
                return found
    return None


def unencodable_field(document: bytes, *, prefix: str = "") -> FieldError | None:
    """The field of a JSON document that a decoder refused as malformed because its text holds a lone surrogate
    (`SURROGATE_REFUSED`) or bytes that are not UTF-8 (`NOT_UTF8_REFUSED`), named as `[3].service` (after
    `prefix`); None if the document holds no such text, or is not JSON even so (the decoder's own error stands).

    msgspec and pydantic's JSON parser refuse such a document as a whole, naming a byte offset; Python's `json`
    reads it, so the field can be named. For the error path only: the document is parsed a second time."""
    if not _MAY_HOLD_UNENCODABLE.search(document):
        return None
    try:
        text, reason = document.decode(), SURROGATE_REFUSED
    except UnicodeDecodeError:  # each byte that is not UTF-8 becomes a lone surrogate, found as one
        text, reason = document.decode(errors="surrogateescape"), NOT_UTF8_REFUSED
    try:
        found = _unencodable_at(json.loads(text), prefix)
    except (ValueError, RecursionError):
        return None
    if found is None:
        return None
    path, in_a_name = found
    message = f"a field name {reason}" if in_a_name else reason
    return FieldError(field=path.lstrip(".") or "body", message=message, type="invalid")
