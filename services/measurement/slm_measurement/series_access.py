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

    Staff read any series of their tenant. A customer reads the scope named after its own party of a
    series its objectives are evaluated on, and every scope summed only where an agreement of its
    measures the whole service; never another customer's scope.
    """
    if principal.is_customer_only:
        party = principal.party or ""
        measured = await repository.party_services(session, tenant=principal.tenant, party=party)
        pairs = {(s, i) for s, i, _ in measured}
        whole = (service, indicator, None) in measured
        if (service, indicator) not in pairs or scope not in ((None, party) if whole else (party,)):
            raise ProblemError("This series is not measured for any of your agreements", status=404)
    return SeriesQuery(principal.tenant, service, indicator, scope, granularity, first, stop)
