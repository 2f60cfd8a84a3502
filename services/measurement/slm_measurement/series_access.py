"""Which series a principal may read: the one place a series query is scoped to its reader."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import repository
from slm_measurement.buckets import SeriesQuery
from slm_shared.auth import Principal
from slm_shared.errors import ProblemError


async def readable_series(
    session: AsyncSession,
    *,
    principal: Principal,
    service: str,
    indicator: str,
    scope: str | None,
    granularity: str,
    first: int,
    stop: int,
) -> SeriesQuery:
    """The series query for this reader; a customer reads only series its agreements measure, and no other scope.

    Staff read any series of their tenant. A customer reads the series its objectives are evaluated on
    (every scope summed) or the scope named after its own party, never another scope.
    """
    if principal.is_customer_only:
        party = principal.party or ""
        measured = await repository.party_services(session, tenant=principal.tenant, party=party)
        if (service, indicator) not in measured or scope not in (None, party):
            raise ProblemError("This series is not measured for any of your agreements", status=404)
    return SeriesQuery(principal.tenant, service, indicator, scope, granularity, first, stop)
