"""`unencodable_field`: where a JSON document a decoder refused as malformed holds text no UTF-8 can encode."""

from __future__ import annotations

import pytest

from slm_shared.web.bounds import SURROGATE_REFUSED
from slm_shared.web.json_guard import NOT_UTF8_REFUSED, unencodable_field


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
    ],
)
def test_the_first_unencodable_string_is_named(document: bytes, field: str, message: str) -> None:
    found = unencodable_field(document)
    assert found is not None and (found.field, found.message) == (field, message)


def test_a_prefix_comes_before_the_path() -> None:
    found = unencodable_field(b'{"service": "\\ud800"}', prefix="[3]")
    assert found is not None and found.field == "[3].service"


@pytest.mark.parametrize(
    "document",
    [
        b'{"a": "plain"}',
        b'{"a": "\\ud83d\\ude00", "b": "\xf0\x9f\x98\x80"}',  # a pair, escaped or as UTF-8: one character
        b'{"a": "\\ud800"',  # not JSON even so: the decoder's own error stands
        b"[" * 100_000 + b'"\\ud800"' + b"]" * 100_000,  # nested past what `json` reads
    ],
)
def test_nothing_is_named_where_nothing_is_unencodable_or_the_document_is_not_json(document: bytes) -> None:
    assert unencodable_field(document) is None
