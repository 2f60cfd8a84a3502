"""The service list's body written straight from rows of the services table, without a model per row.

The bytes are those `TypeAdapter(Page[ServicePublic]).dump_json` writes for the same rows (the same keys in
the same order, the same escapes and timestamps), so the ETag of a page is unchanged; the fields and their
order are read from the models themselves, so a field added there is written here too.

Each item is a msgspec struct of the model's fields (a type made from `ServicePublic.model_fields`, untyped:
it holds the row's values as they are), which msgspec writes as the object a dict of the same keys would be,
in field order, at a third of the cost of building and writing a dict per row: a struct is made from the
row's values in one call, and its field names are encoded once, not hashed and written per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import msgspec

from slm_catalog.services.schemas import ConfigurationItem, ServicePublic

_FIELDS = tuple(ServicePublic.model_fields)
_values = attrgetter(*_FIELDS)
_ITEM_FIELDS = tuple(ConfigurationItem.model_fields)
_ITEMS_AT = _FIELDS.index("configuration_items")
_Item = msgspec.defstruct("ServiceItem", _FIELDS)  # ServicePublic's fields, in its order
_encode = msgspec.json.Encoder().encode


def _configuration_item(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored configuration item with every field of the model, in its order (absent ones null)."""
    return {name: stored.get(name) for name in _ITEM_FIELDS}


def _item(row: Any) -> Any:
    values = _values(row)
    if stored := values[_ITEMS_AT]:
        return _Item(*values[:_ITEMS_AT], [_configuration_item(ci) for ci in stored], *values[_ITEMS_AT + 1 :])
    return _Item(*values)


def service_page_json(rows: Sequence[Any], *, total: int, limit: int, offset: int) -> bytes:
    """The JSON body of one page of services: `{"items": [...], "total", "limit", "offset"}`."""
    return _encode({"items": [_item(row) for row in rows], "total": total, "limit": limit, "offset": offset})
