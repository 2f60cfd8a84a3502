"""Applying OpenSLO documents again, like `kubectl apply`: unchanged is a no-op, changed is a new version.

Only documents applied before through `/v1/openslo` are updated: a changed Service updates the
catalogue service's name and description; an SLO whose targets or description changed gets the next
version of its offering, published (the previous version is superseded, as on the REST API). An SLO
that no longer names an alert policy gets the default burn policy (`alert_policy: []`), so that an
agreement on the new version alerts by the default tiers, not by the removed policy's.
Everything new is created as on the first apply; any refusal still leaves everything as it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_catalog.models import Offering, Service
from slm_catalog.offerings import service as offerings_service
from slm_catalog.offerings.schemas import OfferingChanges, OfferingCreate, Target
from slm_catalog.services import repository as services_repository
from slm_catalog.services.schemas import ServiceUpdate
from slm_catalog.services.service import update_service
from slm_catalog.transfer.schemas import CatalogDocument
from slm_shared.errors import Unprocessable


async def split(
    session: AsyncSession, *, tenant: str, document: CatalogDocument, applied_services: set[str]
) -> tuple[CatalogDocument, list[tuple[Service, Any]]]:
    """The part of the document to create, and the services applied before with their entries."""
    known = {s.key: s for s in await services_repository.all_services(session, tenant=tenant)}
    again = [(known[e.key], e) for e in document.services if e.key in applied_services and e.key in known]
    fresh = [e for e in document.services if not (e.key in applied_services and e.key in known)]
    return document.model_copy(update={"services": fresh}), again


async def update(session: AsyncSession, service: Service, entry: Any, path: str) -> tuple[int, int]:
    """Bring one service applied before in line with its entry: (services changed, offerings versioned)."""
    changed = 0
    if (service.name, service.description) != (entry.name, entry.description):
        await update_service(
            session, service=service, data=ServiceUpdate(name=entry.name, description=entry.description)
        )
        changed = 1
    versioned = 0
    for o_index, item in enumerate(entry.offerings):
        at = f"{path}.offerings.{o_index}"
        current = await session.scalar(
            select(Offering)
            .where(
                col(Offering.tenant) == service.tenant,
                col(Offering.service_id) == service.id,
                Offering.name == item.name,
                col(Offering.status) == "published",
            )
            .limit(1)
        )
        targets = list(item.targets)
        if current is not None:
            shown = offerings_service.public(current)
            targets = _default_policy_where_removed(targets, shown.targets)
            wanted_targets = [t.model_dump(mode="json") for t in targets]
            if (
                shown.description == item.description
                and [t.model_dump(mode="json") for t in shown.targets] == wanted_targets
            ):
                continue
        try:
            if current is None:
                draft = await offerings_service.create_offering(
                    session,
                    service=service,
                    data=OfferingCreate(name=item.name, description=item.description, targets=targets),
                )
            else:
                draft, _ = await offerings_service.edit_offering(
                    session,
                    offering=current,
                    data=OfferingChanges(description=item.description, targets=targets),
                )
        except Unprocessable as exc:
            for error in exc.errors:
                error.field = f"{at}.{error.field}"
            raise
        await offerings_service.publish_offering(session, offering=draft, service=service)
        versioned += 1
    return changed, versioned


def _default_policy_where_removed(targets: list[Target], held: list[Target]) -> list[Target]:
    """A target whose SLO no longer names an alert policy gets the default one (`[]`), not the one it had."""
    had = {t.indicator for t in held if t.alert_policy is not None}
    return [
        t.model_copy(update={"alert_policy": []}) if t.alert_policy is None and t.indicator in had else t
        for t in targets
    ]
