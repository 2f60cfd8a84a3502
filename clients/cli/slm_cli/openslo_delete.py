"""`slm delete -f`: the OpenSLO documents of a file deleted from the catalogue, those naming others first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import yaml

OPENSLO_PREFIX = "openslo/"


@dataclass
class Outcome:
    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "not_found": self.not_found, "refused": self.refused}


def named_documents(text: str) -> list[tuple[str, str]]:
    """(kind, metadata.name) of each OpenSLO document in a YAML stream or JSON array, once each, in order."""
    try:
        loaded = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ValueError(f"is not valid YAML: {exc}") from None
    flat = [d for item in loaded for d in (item if isinstance(item, list) else [item])]
    wanted: list[tuple[str, str]] = []
    for index, document in enumerate(flat):
        metadata = document.get("metadata") if isinstance(document, dict) else None
        if not (
            isinstance(metadata, dict)
            and str(document.get("apiVersion", "")).startswith(OPENSLO_PREFIX)
            and isinstance(document.get("kind"), str)
            and isinstance(metadata.get("name"), str)
        ):
            raise ValueError(f"document {index} is not an OpenSLO document with a kind and metadata.name")
        if (document["kind"], metadata["name"]) not in wanted:
            wanted.append((document["kind"], metadata["name"]))
    return wanted


def delete_all(
    client: httpx.Client, wanted: list[tuple[str, str]], *, fail: Callable[[httpx.Response], None]
) -> Outcome:
    """Delete each document; one refused because another still names it is tried again after the others."""
    outcome = Outcome()
    remaining = list(reversed(wanted))  # a document usually comes after those it names: it goes first
    while remaining:
        kept = []
        for kind, name in remaining:
            response = client.delete(f"/v1/openslo/{quote(kind, safe='')}/{quote(name, safe='')}")
            label = f"{kind} {name}"
            if response.status_code == 204:
                outcome.deleted.append(label)
                outcome.refused.pop(label, None)
            elif response.status_code == 404:
                outcome.not_found.append(label)
            elif response.status_code == 409:  # named by another document, perhaps one still to go here
                outcome.refused[label] = str(response.json().get("detail", ""))
                kept.append((kind, name))
            else:
                fail(response)
        if len(kept) == len(remaining):
            return outcome
        remaining = kept
    return outcome
