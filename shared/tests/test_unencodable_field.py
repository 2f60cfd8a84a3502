"""`unencodable_field`: where a JSON document a decoder refused as malformed holds text no UTF-8 can encode."""

from __future__ import annotations

import pytest

from slm_shared.errors import field_name, field_path
from slm_shared.web.bounds import NOT_UTF8_REFUSED, SURROGATE_REFUSED, UNENCODABLE_REFUSED
from slm_shared.web.json_guard import (
    FIELD_MAX_CHARS,
    UNENCODABLE_MAX_BYTES,
    UNENCODABLE_MAX_DEPTH,
    body_refusal,
    suspect,
    unencodable_field,
)


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        (b'{"a": [1, {"b": "x\\ud800"}]}', "a[1].b", SURROGATE_REFUSED),
        (b'{"a": "\\uDFFF"}', "a", SURROGATE_REFUSED),  # either case of hex digits
        (b'{"ok": "\\ud83d\\ude00", "a": {"\\udc00": 1}}', "a", f"a field name {SURROGATE_REFUSED}"),
        (b'{"\\udc00": 1}', "body", f"a field name {SURROGATE_REFUSED}"),
        (b'"\\ud800"', "body", SURROGATE_REFUSED),
        (b'{"caf\xc3\xa9": ["\xff"]}', "caf\u00e9[0]", NOT_UTF8_REFUSED),
        (b'{"a": "\xed\xa0\x80"}', "a", NOT_UTF8_REFUSED),  # a surrogate written as if UTF-8 had one
        # both in one document: the reason of the string found, or both where it could be either
        (b'{"a": "\\ud800", "b": "\xff"}', "a", SURROGATE_REFUSED),
        (b'{"a": "\xff", "b": "\\ud800"}', "a", NOT_UTF8_REFUSED),
        (b'{"a": "\\udc80", "b": "\xff"}', "a", UNENCODABLE_REFUSED),  # reads as the byte 0x80 would
        # a name given twice: the first one's text is found, though `json` keeps the last
        (b'[{"service": "\\ud800", "service": "x"}]', "[0].service", SURROGATE_REFUSED),
        (b'{"a": {"\\ud800": 1, "\\ud800": 2}}', "a", f"a field name {SURROGATE_REFUSED}"),
        (b'{".a": {"..b": "\\ud800"}}', ".a...b", SURROGATE_REFUSED),  # names are kept as given
    ],
)
def test_the_first_unencodable_string_is_named(document: bytes, field: str, message: str) -> None:
    found = unencodable_field(document)
    assert found is not None and (found.field, found.message) == (field, message)


def test_a_prefix_comes_before_the_path() -> None:
    found = unencodable_field(b'{"service": "\\ud800"}', prefix=(3,))
    assert found is not None and found.field == "[3].service"


@pytest.mark.parametrize(
    "document",
    [
        b'{"a": "plain"}',
        b'{"a": "\\ud83d\\ude00", "b": "\xf0\x9f\x98\x80"}',  # a pair, escaped or as UTF-8: one character
        b'{"a": "\\ud800"',  # not JSON even so: the decoder's own error stands
        b"[" * 100_000 + b'"\\ud800"' + b"]" * 100_000,  # nested past what `json` reads
        b"[" * (UNENCODABLE_MAX_DEPTH + 1) + b'"\\ud800"' + b"]" * (UNENCODABLE_MAX_DEPTH + 1),  # deeper than any field
        b'["' + b"a" * UNENCODABLE_MAX_BYTES + b'", "\\ud800"]',  # longer than is read a second time
    ],
)
def test_nothing_is_named_where_nothing_is_unencodable_or_the_document_is_not_json(document: bytes) -> None:
    assert unencodable_field(document) is None


def test_a_deep_document_of_long_names_is_answered_with_a_bounded_field() -> None:
    """Each level's name is not copied into the next (memory of name length x depth squared): the first string
    found is named, cut to FIELD_MAX_CHARS, and the text at fault is never repeated."""
    depth, name_length = UNENCODABLE_MAX_DEPTH, 4000  # as deep as is read
    names = [f"{level:03d}" + "k" * name_length for level in range(depth)]
    document = "".join(f'{{"{name}": ' for name in names) + '"\\ud800 secret"' + "}" * depth
    found = unencodable_field(b'[{"a": "\\ud801"}, ' + document.encode() + b"]", prefix=(7,))
    assert found is not None and found.field == "[7][0].a"  # the first, not the deep one
    found = unencodable_field(document.encode(), prefix=(7,))
    assert found is not None and len(found.field) == FIELD_MAX_CHARS and found.message == SURROGATE_REFUSED
    assert found.field.startswith("[7].000kkk") and found.field.endswith("\u2026") and "secret" not in found.field


@pytest.mark.parametrize(
    ("parts", "brackets", "named"),
    [
        ((), False, "body"),
        (("targets", 0, "value"), False, "targets.0.value"),  # every service's pydantic models
        ((1, "good"), True, "[1].good"),  # measurement's ingest
        (("series", 0, "indicator"), True, "series[0].indicator"),
        ((0, ".x"), True, "[0]..x"),
    ],
)
def test_one_way_to_name_a_field(parts: tuple[str | int, ...], brackets: bool, named: str) -> None:
    assert field_path(parts, brackets=brackets) == named


def test_the_body_checks_name_fields_as_pydantic_does() -> None:
    refused = body_refusal(b'{"targets": [{"value": NaN}]}', "application/json")
    assert refused is not None and refused.field == "targets.0.value" == field_name(("body", "targets", 0, "value"))


@pytest.mark.parametrize(
    "number",
    [
        *["1e309", "1.0e309", "-1e309", "1E309", "0.000001e400", "1e0400", "1e+0400", "0." + "9" * 400 + "e309"],
        *["9" * 400 + ".0", "NaN", "-Infinity"],
    ],
)
def test_a_number_that_may_not_be_finite_is_suspect(number: str) -> None:
    assert suspect(f'{{"good": {number}}}'.encode())


@pytest.mark.parametrize("number", ["1e-400", "1.5", "12e30", "9" * 99 + ".5e99"])
def test_a_finite_number_is_not_suspect(number: str) -> None:
    assert not suspect(f'{{"good": {number}}}'.encode())
