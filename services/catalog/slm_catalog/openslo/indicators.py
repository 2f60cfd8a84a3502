"""A changed SLI changes its indicator, as the catalogue's rules for indicators say.

An indicator is changed in place and its version goes up by one (`indicator.updated` tells the other
services): its name and description follow the SLI's `displayName` and `description`, and a changed
query or metric is a new version of the same indicator. The kind stays, because targets rely on it:
an SLI that turns from a ratio into a threshold metric (or back) is refused, to be applied under a
new name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_catalog.indicators import service as indicators_service
from slm_catalog.indicators.schemas import IndicatorUpdate
from slm_catalog.openslo.checked import Checked
from slm_catalog.openslo.mapping import indicator_kind
from slm_catalog.openslo.models import SLISpec

V1 = "openslo/v1"


def sli_definitions(documents: list[dict[str, Any]]) -> dict[str, tuple[int, str, dict[str, Any]]]:
    """Each v1 SLI the documents define, standalone or inline in an SLO, by indicator key.

    The value is (document index, JSON path of the SLI, the SLI as written: its metadata and spec).
    """
    found: dict[str, tuple[int, str, dict[str, Any]]] = {}
    for index, document in enumerate(documents):
        if not isinstance(document, dict) or document.get("apiVersion") != V1:
            continue
        spec = document.get("spec") or {}
        if document.get("kind") == "SLI" and isinstance(document.get("metadata"), dict):
            found[str(document["metadata"].get("name"))] = (
                index,
                "$",
                {"metadata": document["metadata"], "spec": spec},
            )
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
                found.setdefault(str(sli["metadata"].get("name")), (index, path, sli))
    return found


async def update_changed(session: AsyncSession, checked: Checked, *, tenant: str, before: list[dict[str, Any]]) -> int:
    """Update the indicator of every SLI applied before whose definition changed; refusals go to `checked`."""
    earlier = sli_definitions(before)
    updated = 0
    for key, (index, path, sli) in sli_definitions(checked.raw).items():
        if key not in earlier or earlier[key][2] == sli:
            continue
        row = await indicators_service.get_row(session, tenant=tenant, key=key)
        if row is None:
            continue  # a built-in indicator: nothing of the tenant's to change
        spec = SLISpec.model_validate(sli["spec"])
        kind = indicator_kind(spec)
        if row.kind != kind:
            checked.refuse(
                index,
                f"{path}.spec" if path != "$" else "$.spec",
                f"SLI {key} was a {row.kind} indicator and is now {kind}; an indicator keeps its kind "
                "(targets rely on it): apply it under a new name",
            )
            continue
        display = sli["metadata"].get("displayName")
        change = IndicatorUpdate(name=display or key, description=spec.description or "")
        await indicators_service.update_indicator(session, row=row, data=change)
        updated += 1
    return updated
