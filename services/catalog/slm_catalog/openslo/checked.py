"""OpenSLO documents checked one by one against their kind, with every refusal named by document and JSON path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from slm_catalog.openslo.models import SPECS, Document
from slm_shared.errors import FieldError, json_path
from slm_shared.terms.openslo_credentials import data_source_refusals, metric_source_refusals


@dataclass
class Checked:
    """The documents as given, their validated specs, and every refusal found."""

    raw: list[dict[str, Any]]
    documents: list[Document] = field(default_factory=list)
    specs: list[BaseModel] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    def refuse(self, index: int, path: str, reason: str) -> None:
        label = "document"
        if index < len(self.raw) and isinstance(self.raw[index], dict):
            doc = self.raw[index]
            name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
            label = f"{doc.get('kind', 'document')} {name or '(unnamed)'}"
        self.errors.append(FieldError(field=f"documents[{index}] {path}", message=f"{label}: {reason}"))

    def named(self, kind: str) -> dict[str, int]:
        return {d.metadata.name: i for i, d in enumerate(self.documents) if d.kind == kind}


def check(raw: list[Any], *, tenant: str) -> Checked:
    """Validate each document and its spec against its kind, for the tenant applying them."""
    checked = Checked(raw=[d if isinstance(d, dict) else {} for d in raw])
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            checked.refuse(index, "$", "a document is a mapping with apiVersion, kind, metadata and spec")
            continue
        try:
            document = Document.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                checked.refuse(index, json_path(error["loc"]), error["msg"].removeprefix("Value error, "))
            continue
        try:
            spec = SPECS[(document.apiVersion, document.kind)].model_validate(document.spec)
        except ValidationError as exc:
            for error in exc.errors():
                checked.refuse(index, json_path(["spec", *error["loc"]]), error["msg"].removeprefix("Value error, "))
            continue
        checked.documents.append(document)
        checked.specs.append(spec)
        # kept, exported and published: never a credential in the clear, only variables measurement reads for tenant
        if document.kind == "DataSource":
            for path, reason in data_source_refusals(document.spec, tenant):
                checked.refuse(index, f"$.spec.{path}", reason)
        for path, reason in metric_source_refusals(item):
            checked.refuse(index, path, reason)
    if checked.errors:
        return checked
    _check_names(checked)
    return checked


def _check_names(checked: Checked) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, document in enumerate(checked.documents):
        key = (document.kind, document.metadata.name)
        if key in seen:
            checked.refuse(
                index, "$.metadata.name", f"a second {document.kind} named {key[1]} (first: documents[{seen[key]}])"
            )
        seen[key] = index
