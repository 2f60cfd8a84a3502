"""A changed SLI (v1, or a v1alpha SLO's metric) changes its indicator, as the catalogue's rules for indicators say.

An indicator is changed in place and its version goes up by one (`indicator.updated` tells the other
services): its name and description follow the SLI's `displayName` and `description`, and a changed
query or metric is a new version of the same indicator. The kind stays, because targets rely on it:
an SLI that turns from a ratio into a threshold metric (or back) is refused, to be applied under a
new name.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog.indicators import service as indicators_service
from slm_catalog.indicators.schemas import IndicatorUpdate
from slm_catalog.openslo.checked import Checked
from slm_catalog.openslo.mapping import indicator_kind
from slm_catalog.openslo.models import SLISpec

V1 = "openslo/v1"
V1ALPHA = "openslo/v1alpha"


class Definition(NamedTuple):
    """An indicator as the documents define it: where (the JSON path a refusal names), kind, names, measure."""

    document: int
    path: str
    kind: str
    name: str
    description: str
    measured: dict[str, Any]


def _v1(index: int, path: str, sli: dict[str, Any]) -> Definition:
    spec = SLISpec.model_validate(sli["spec"])
    key = str(sli["metadata"].get("name"))
    display = sli["metadata"].get("displayName")
    at = f"{path}.spec" if path != "$" else "$.spec"
    return Definition(index, at, indicator_kind(spec), display or key, spec.description or "", sli)


def _v1alpha(index: int, document: dict[str, Any]) -> dict[str, Definition]:
    """The indicators of a v1alpha SLO, named as the catalogue names them: the SLO's, one per objective."""
    spec = document.get("spec") or {}
    listed = spec.get("objectives")
    objectives: list[Any] = listed if isinstance(listed, list) else []
    name = str((document.get("metadata") or {}).get("name"))
    found: dict[str, Definition] = {}
    for o_index, objective in enumerate(objectives):
        if not isinstance(objective, dict):
            continue
        ratio = objective.get("ratioMetrics")
        key = name if len(objectives) == 1 or ratio is None else f"{name}-{o_index}"
        if ratio is not None:
            found[key] = Definition(
                index, f"$.spec.objectives[{o_index}].ratioMetrics", "ratio", key, "", {"ratioMetrics": ratio}
            )
        elif spec.get("indicator") is not None:
            found.setdefault(key, Definition(index, "$.spec.indicator", "threshold", key, "", spec["indicator"]))
    return found


def sli_definitions(documents: list[dict[str, Any]]) -> dict[str, Definition]:
    """Each SLI the documents define (v1: standalone or inline in an SLO; v1alpha: an SLO's), by indicator key."""
    found: dict[str, Definition] = {}
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            continue
        spec = document.get("spec") or {}
        if document.get("apiVersion") == V1ALPHA and document.get("kind") == "SLO" and isinstance(spec, dict):
            for key, definition in _v1alpha(index, document).items():
                found.setdefault(key, definition)
            continue
        if document.get("apiVersion") != V1:
            continue
        if document.get("kind") == "SLI" and isinstance(document.get("metadata"), dict):
            standalone = {"metadata": document["metadata"], "spec": spec}
            found[str(document["metadata"].get("name"))] = _v1(index, "$", standalone)
            continue
        if document.get("kind") != "SLO" or not isinstance(spec, dict):
            continue
        inline = [("$.spec.indicator", spec.get("indicator"))]
        listed = spec.get("objectives")
        objectives: list[Any] = listed if isinstance(listed, list) else []
        inline += [
            (f"$.spec.objectives[{i}].indicator", o.get("indicator"))
            for i, o in enumerate(objectives)
            if isinstance(o, dict)
        ]
        for path, sli in inline:
            if isinstance(sli, dict) and isinstance(sli.get("metadata"), dict):
                key = str(sli["metadata"].get("name"))
                if key not in found:
                    found[key] = _v1(index, path, sli)
    return found


async def update_changed(session: AsyncSession, checked: Checked, *, tenant: str, before: list[dict[str, Any]]) -> int:
    """Update the indicator of every SLI applied before whose definition changed; refusals go to `checked`."""
    earlier = sli_definitions(before)
    updated = 0
    for key, now in sli_definitions(checked.raw).items():
        if key not in earlier or earlier[key][2:] == now[2:]:
            continue
        row = await indicators_service.get_row(session, tenant=tenant, key=key)
        if row is None:
            continue  # a built-in indicator: nothing of the tenant's to change
        if row.kind != now.kind:
            checked.refuse(
                now.document,
                now.path,
                f"SLI {key} was a {row.kind} indicator and is now {now.kind}; an indicator keeps its kind "
                "(targets rely on it): apply it under a new name",
            )
            continue
        change = IndicatorUpdate(name=now.name, description=now.description)
        await indicators_service.update_indicator(session, row=row, data=change)
        updated += 1
    return updated
