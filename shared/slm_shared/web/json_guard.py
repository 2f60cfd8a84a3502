"""JSON that the platform refuses at the edge: non-finite numbers, nesting without bound, and text no column
can keep."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from slm_shared.errors import NESTED_TOO_DEEPLY, TOO_DEEP, FieldError, FieldNames, name_field
from slm_shared.web.bounds import NOT_UTF8_REFUSED, SURROGATE_REFUSED, UNENCODABLE_REFUSED, encodes

MAX_JSON_DEPTH = 64
# Only bodies with something that could parse to NaN or infinity are parsed here a second time: `NaN`, `Infinity`,
# an exponent of three digits or more, or a run of 100 digits or more (a number with fewer than 100 digits before its
# decimal point and an exponent of at most two digits stays below 1e199). These match inside strings too (`"NaN"`, a
# hex id holding `1e400`), so a body is scanned and parsed only up to REPARSE_MAX_BYTES. Found by byte searches over
# the body with every digit read as 0, which cost 3-12 ms a MiB where a regex scan cost 33-276 ms
# (`bench/body_scan_bench.py`).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")
_SUSPECT_NUMBERS = (b"0e000", b"0e+000", b"0" * 100)


class JsonRefused(ValueError):
    """A JSON document refused before it reaches the application, with the field at fault: `parts`, the keys and
    list indexes leading to it; `field`, named as pydantic does (`targets.0.value`, `field_named` for the other
    ways); `type`, the error's (`finite_number`, or `too_deep` for nesting)."""

    def __init__(self, parts: Sequence[str | int], message: str, type: str = "finite_number") -> None:
        self.parts = tuple(parts)
        self.field = self.field_named("dotted")
        self.message = message
        self.type = type
        super().__init__(f"{self.field}: {message}")

    def field_named(self, names: FieldNames) -> str:
        """The field as a route naming fields `names` names it (`name_field`), cut to FIELD_MAX_CHARS."""
        return _bounded(name_field(self.parts, names))


class _NonFinite:
    """Stands in for a NaN or infinite number while the document is checked."""


_NON_FINITE = _NonFinite()


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def _constant(_text: str) -> _NonFinite:
    return _NON_FINITE


def _check(value: Any, path: list[str | int], max_depth: int) -> None:
    """Raises JsonRefused naming the first non-finite number or too deep a nesting; `path` leads to `value` (it is
    extended and restored in place)."""
    if value is _NON_FINITE or (isinstance(value, float) and not math.isfinite(value)):
        raise JsonRefused(path, "numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict | list):
        if len(path) >= max_depth:
            raise JsonRefused(path, f"nested deeper than {max_depth} levels", TOO_DEEP)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            path.append(key)
            _check(item, path, max_depth)
            path.pop()


def check_document(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Refuse a parsed document (JSON or YAML) with non-finite numbers or nested too deeply (JsonRefused)."""
    try:
        _check(value, [], max_depth)
    except RecursionError:
        raise JsonRefused((), NESTED_TOO_DEEPLY, TOO_DEEP) from None
    return value


def load_json(document: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing non-finite numbers and nesting deeper than `max_depth` or too deep for the parser
    (`NESTED_TOO_DEEPLY`, naming the document) (JsonRefused)."""
    try:
        value = json.loads(document, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise JsonRefused((), NESTED_TOO_DEEPLY, TOO_DEEP) from None
    return check_document(value, max_depth=max_depth)


def suspect(body: bytes) -> bool:
    """Whether a JSON body may hold a number no field may take (`body_refusal` parses only such a one)."""
    if b"NaN" in body or b"Infinity" in body:
        return True
    digits = body.translate(_DIGITS_AS_ZERO)
    return any(number in digits for number in _SUSPECT_NUMBERS)


# Byte order marks of UTF-16 and UTF-32 (UTF-32's little-endian one starts as UTF-16's does).
_UTF16_32_BOMS = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff")


def not_utf8_json(body: bytes) -> bool:
    """Whether a JSON body is encoded as UTF-16 or UTF-32 (which Python's `json` detects and reads): it holds a byte
    0, never in UTF-8 JSON (U+0000 is written `\\u0000`) and in every UTF-16 or UTF-32 JSON text (`{`, `[`, `"` and
    digits are ASCII), or starts with such a byte order mark. UTF-8's own mark is not refused."""
    return b"\x00" in body or body.startswith(_UTF16_32_BOMS)


def body_refusal(body: bytes, content_type: str) -> JsonRefused | None:
    """Why a JSON (or NDJSON) request body holds a number no field may take, or is nested too deeply for the parser
    (a route's would not read it either: `NESTED_TOO_DEEPLY`, naming the body or the line), or None. In NDJSON the
    field is named after the index of its line among the lines that are not blank (`[1].good`, `[1]`), as the
    lines' decoder names it.
    A body over REPARSE_MAX_BYTES is not parsed here: the route's own decoding refuses such a number (every float
    field is finite-only or bounded; msgspec refuses `NaN` and an overflowing number), naming it its own way."""
    if "json" not in content_type.lower() or len(body) > REPARSE_MAX_BYTES or not suspect(body):
        return None
    ndjson = "ndjson" in content_type.lower()
    lines = [line for line in body.splitlines() if line.strip()] if ndjson else [body]
    for index, line in enumerate(lines):
        try:
            load_json(line, max_depth=10_000)
        except JsonRefused as refused:
            return JsonRefused((index, *refused.parts), refused.message, refused.type) if ndjson else refused
        except ValueError:
            return None  # malformed JSON: the route's own parser says where
    return None


# Text no UTF-8 can encode comes only as a surrogate escape (`\ud800` to `\udfff`) or as bytes that are not UTF-8.
_MAY_HOLD_UNENCODABLE = re.compile(rb"\\u[dD][89a-fA-F]|[\x80-\xff]")
# An escape that reads as the same lone surrogate as a byte that is not UTF-8 does (`surrogateescape`)
_ESCAPE_LIKE_A_BYTE = re.compile(rb"\\u[dD][cC][89a-fA-F]")
# A body is parsed a second time (`body_refusal`, and `unencodable_field` for a refused document) on the event loop
# before authentication, so only up to this many bytes: a larger or deeper document keeps the decoder's own error.
# `json` and the walk take up to ~0.6 s a MiB (a body of `[],` only, the slowest; ~30 ms a MiB of ingest rows), so up
# to ~150 ms for this many bytes (`bench/body_scan_bench.py`, load average 3.8-5.5 on 2 cores).
REPARSE_MAX_BYTES = 256 << 10
UNENCODABLE_MAX_BYTES = REPARSE_MAX_BYTES
UNENCODABLE_MAX_DEPTH = MAX_JSON_DEPTH
# A field named in the answer is cut to this many characters (its names are the document's own, of any length).
FIELD_MAX_CHARS = 200


def _unencodable_at(value: list[Any] | tuple[tuple[str, Any], ...], path: list[str | int]) -> tuple[str, bool] | None:
    """The first string in an array (a list) or an object (a tuple of its members in order, every one of a name
    given twice included) UTF-8 cannot encode (and whether it is a member's name),
    with `path` leading to it (extended in place); None if there is none, or only deeper than UNENCODABLE_MAX_DEPTH.
    A number, or a string of ASCII, is passed over with a check of its type."""
    if len(path) >= UNENCODABLE_MAX_DEPTH:
        return None
    for key, item in value if value.__class__ is tuple else enumerate(value):
        if key.__class__ is str and not encodes(key):
            return key, True
        if item.__class__ is str:
            if not encodes(item):
                path.append(key)
                return item, False
        elif item.__class__ is list or item.__class__ is tuple:
            path.append(key)
            if found := _unencodable_at(item, path):
                return found
            path.pop()
    return None


def _reason(found: str, document: bytes, utf8: bool) -> str:
    """Why `found` was refused: a lone surrogate written as an escape, or bytes that are not UTF-8 (each read as the
    lone surrogate `surrogateescape` makes of it, U+DC80 to U+DCFF, as an escape of one of those reads too)."""
    if utf8:
        return SURROGATE_REFUSED
    try:
        found.encode(errors="surrogateescape")  # fails for any lone surrogate no byte reads as
    except UnicodeEncodeError:
        return SURROGATE_REFUSED
    return UNENCODABLE_REFUSED if _ESCAPE_LIKE_A_BYTE.search(document) else NOT_UTF8_REFUSED


def _bounded(name: str) -> str:
    return name if len(name) <= FIELD_MAX_CHARS else name[: FIELD_MAX_CHARS - 1] + "\u2026"


def unencodable_field(
    document: bytes, *, prefix: Sequence[str | int] = (), names: FieldNames = "brackets"
) -> FieldError | None:
    """The field of a JSON document that a decoder refused as malformed because its text holds a lone surrogate
    (`SURROGATE_REFUSED`) or bytes that are not UTF-8 (`NOT_UTF8_REFUSED`; `UNENCODABLE_REFUSED` where a document
    holds both and the string found could be either), named as `[3].service` (after `prefix`, cut to
    FIELD_MAX_CHARS) or as a route naming fields `names` names it; a name holding one names its object. Never the
    text itself.

    None if the document holds no such text, is not JSON even so, is longer than UNENCODABLE_MAX_BYTES or holds it
    only deeper than UNENCODABLE_MAX_DEPTH: the decoder's own error stands. msgspec and pydantic's JSON parser refuse
    such a document as a whole, naming a byte offset; Python's `json` reads it, so the field can be named. For the
    error path only: the document is parsed a second time, every member of an object given twice included."""
    if len(document) > UNENCODABLE_MAX_BYTES or not _MAY_HOLD_UNENCODABLE.search(document):
        return None
    try:
        text, utf8 = document.decode(), True
    except UnicodeDecodeError:  # each byte that is not UTF-8 becomes a lone surrogate, found as one
        text, utf8 = document.decode(errors="surrogateescape"), False
    path: list[str | int] = []
    try:
        value = json.loads(text, object_pairs_hook=tuple)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, str):
        found = None if encodes(value) else (value, False)
    else:
        found = _unencodable_at(value, path) if isinstance(value, list | tuple) else None
    if found is None:
        return None
    text, in_a_name = found
    reason = _reason(text, document, utf8)
    return FieldError(
        field=_bounded(name_field([*prefix, *path], names)),
        message=f"a field name {reason}" if in_a_name else reason,
        type="invalid",
    )
