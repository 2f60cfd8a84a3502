"""JSON that the platform refuses at the edge: non-finite numbers and nesting without bound."""

from __future__ import annotations

import json
import math
import re
from typing import Any

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
