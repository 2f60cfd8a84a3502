"""Portfolio HTTP API: the tenant-wide desk, drafting proposals, and a manager's decision on one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from slm_measurement.portfolio import service
from slm_measurement.reports import periods
from slm_measurement.reports.render import plain
from slm_shared.contracts.action_titles import preferred_language
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES, FieldError, Unprocessable
from slm_shared.web.deps import SessionDep, StaffDep

router = APIRouter(prefix="/v1/portfolio", tags=["portfolio"], responses=PROBLEM_RESPONSES)
LangQuery = Annotated[
    str | None, Query(max_length=16, description="language of platform-written text: en, pt, es, pl or ru")
]
AcceptLanguage = Annotated[str | None, Header(max_length=200)]
MonthQuery = Annotated[str | None, Query(max_length=7, description="a month (2026-03); the current month when omitted")]


def _month(text: str | None) -> periods.Period:
    now = utcnow()
    try:
        return periods.parse(text or now.strftime("%Y-%m"), start=None, end=None, timezone="UTC")
    except periods.PeriodError as exc:
        raise Unprocessable(str(exc), errors=[FieldError(field="period", message=str(exc))]) from exc


@router.get("")
async def read_portfolio(
    principal: StaffDep,
    session: SessionDep,
    service_key: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    customer: Annotated[str | None, Query(max_length=64, description="a customer party id")] = None,
    period: MonthQuery = None,
    months: Annotated[int, Query(ge=1, le=12, description="months of exposure, ending with the period")] = 3,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> dict[str, Any]:
    """Services without SLA, cover and chain risks, exposure, 12-period trends, at risk now, due and overdue work."""
    chosen = _month(period)
    if chosen.kind != "month":
        raise Unprocessable("a month such as 2026-03", errors=[FieldError(field="period", message="a month")])
    found = await service.portfolio(
        session,
        principal,
        service_key=service_key,
        customer=customer,
        period=chosen,
        months=months,
        lang=preferred_language(lang, accept_language),
    )
    return plain(found)  # type: ignore[no-any-return]


@router.post("/proposals/draft", status_code=201)
async def draft_proposals(
    principal: StaffDep,
    session: SessionDep,
    period: MonthQuery = None,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> dict[str, Any]:
    """Draft proposals for the next period (tier change, amendment, improvement action) from trends and forecasts;
    reasons in the reader's language."""
    language = preferred_language(lang, accept_language)
    drafted = await service.draft(session, principal, period=_month(period), lang=language)
    return plain({"drafted": drafted})  # type: ignore[no-any-return]


@router.post("/proposals/{proposal_id}/accept")
async def accept_proposal(
    proposal_id: str,
    principal: StaffDep,
    session: SessionDep,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> dict[str, Any]:
    """A manager accepts a drafted proposal (announced as proposal.decided)."""
    language = preferred_language(lang, accept_language)
    decided = await service.decide(session, principal, proposal_id=proposal_id, accept=True, lang=language)
    return plain(decided)  # type: ignore[no-any-return]


@router.post("/proposals/{proposal_id}/dismiss")
async def dismiss_proposal(
    proposal_id: str,
    principal: StaffDep,
    session: SessionDep,
    lang: LangQuery = None,
    accept_language: AcceptLanguage = None,
) -> dict[str, Any]:
    """A manager dismisses a drafted proposal."""
    language = preferred_language(lang, accept_language)
    decided = await service.decide(session, principal, proposal_id=proposal_id, accept=False, lang=language)
    return plain(decided)  # type: ignore[no-any-return]
