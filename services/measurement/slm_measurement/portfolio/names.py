"""Names of services and parties, so that documents name them (kept from catalogue and party events)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.portfolio.models import CatalogService, PartyName


async def store_party(session: AsyncSession, *, tenant: str, party_id: str, name: str, version: int) -> None:
    row = await session.get(PartyName, (tenant, party_id))
    if row is not None and row.version > version:
        return
    row = row or PartyName(tenant=tenant, party_id=party_id, name=name[:200], version=version)
    row.name, row.version = name[:200], version
    session.add(row)
    await session.flush()


async def names_of(session: AsyncSession, *, tenant: str, service_key: str, party_id: str | None) -> tuple[str, str]:
    """The service's and the party's names, falling back to the key (never to a bare id when a name is known)."""
    service = await session.get(CatalogService, (tenant, service_key))
    party = await session.get(PartyName, (tenant, party_id)) if party_id else None
    return (service.name if service else service_key), (party.name if party else (party_id or ""))
