"""Report HTTP API: an agreement's report for a period, and a customer's service review pack."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from slm_measurement import repository, terms
from slm_measurement.chain import service as chain_service
from slm_measurement.portfolio import names
from slm_measurement.reports import pdf, periods
from slm_measurement.reports import repository as reports_repository
from slm_measurement.reports.build import agreement_report
from slm_measurement.reports.i18n import Formatter, choose
from slm_measurement.reports.render import plain, to_csv, to_html
from slm_shared.auth import Principal
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES, FieldError, NotFound, Unprocessable
from slm_shared.terms import in_force
from slm_shared.web.bounds import BoundedDatetime
from slm_shared.web.deps import ReaderDep, SessionDep

router = APIRouter(prefix="/v1", tags=["reports"], responses=PROBLEM_RESPONSES)
Format = Literal["json", "csv", "html", "pdf"]
PeriodQuery = Annotated[str | None, Query(max_length=16, description="a month (2026-03) or a quarter (2026-Q1)")]
LangQuery = Annotated[str | None, Query(max_length=16, description="en, pt, es, pl or ru; else Accept-Language")]
FORMATS: dict[int | str, dict[str, Any]] = {
    "200": {
        "content": {
            "application/json": {},
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "The report in the format asked for",
    }
}


def _language(lang: str | None, accept_language: str | None) -> str:
    try:
        return choose(lang, accept_language)
    except ValueError as exc:
        raise Unprocessable(str(exc), errors=[FieldError(field="lang", message=str(exc))]) from exc


def _period(text: str | None, start: datetime | None, end: datetime | None, timezone: str) -> periods.Period:
    try:
        return periods.parse(text, start=start, end=end, timezone=timezone)
    except periods.PeriodError as exc:
        raise Unprocessable(str(exc), errors=[FieldError(field="period", message=str(exc))]) from exc


async def _respond(
    request: Request,
    reports: list[dict[str, Any]],
    document: dict[str, Any],
    fmt: Formatter,
    kind: str,
    title: str,
    *,
    meeting: bool = False,
) -> Response:
    headers = {"Content-Language": fmt.lang}
    if kind == "pdf":
        settings = request.app.state.settings
        printed = await pdf.html_to_pdf(
            to_html(reports, fmt, title=title, meeting=meeting),
            binary=pdf.browser(settings.report_browser),
            seconds=settings.report_pdf_timeout_seconds,
        )
        return Response(printed, media_type="application/pdf", headers=headers)
    if kind == "csv":
        return PlainTextResponse(to_csv(reports, fmt), media_type="text/csv; charset=utf-8", headers=headers)
    if kind == "html":
        return HTMLResponse(to_html(reports, fmt, title=title, meeting=meeting), headers=headers)
    return JSONResponse(plain(document), headers=headers)


async def _agreement(session: SessionDep, principal: Principal, agreement_id: str) -> terms.AgreementTerms:
    versions = await terms.versions(session, tenant=principal.tenant, agreement_id=agreement_id)
    if not versions or (principal.is_customer_only and versions[-1].consumer_party_id != principal.party):
        raise NotFound(f"No agreement {agreement_id}")
    return versions[-1]


@router.get("/agreements/{agreement_id}/report", responses=FORMATS, response_class=Response)
async def agreement_report_route(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    period: PeriodQuery = None,
    start: datetime | None = None,
    end: datetime | None = None,
    format: Format = "json",
    lang: LangQuery = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """An agreement's service report for a month, a quarter or a range: JSON, CSV or HTML, in the language asked."""
    language = _language(lang, accept_language)
    latest = await _agreement(session, principal, agreement_id)
    chosen = _period(period, start, end, latest.timezone)
    version = await terms.terms_at(
        session, tenant=principal.tenant, agreement_id=agreement_id, instant=chosen.end - timedelta(microseconds=1)
    )
    assert version is not None
    report = await agreement_report(
        session, version, chosen, trend_count=request.app.state.settings.report_trend_periods
    )
    fmt = Formatter(language, latest.timezone)
    return await _respond(request, [report], report, fmt, format, f"{fmt.t('report')}: {latest.name} ({chosen.label})")


class VersionInForce(BaseModel):
    """The version of an agreement in force at an instant, by the definition agreements shares."""

    agreement_id: str
    version: int
    in_force_from: datetime
    in_force_to: datetime | None


@router.get("/agreements/{agreement_id}/versions/in-force", response_model=VersionInForce, tags=["agreements"])
async def version_in_force(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    at: Annotated[BoundedDatetime | None, Query(description="the instant asked about; now when omitted")] = None,
) -> VersionInForce:
    """The version measurement holds in force at `at` (the same answer as the agreements API); 404 when none was."""
    await _agreement(session, principal, agreement_id)
    at = at or utcnow()
    found = await terms.version_in_force(session, tenant=principal.tenant, agreement_id=agreement_id, instant=at)
    if found is None:
        raise NotFound(f"No version of agreement {agreement_id} was in force at {at.isoformat()}")
    row, span = found
    return VersionInForce(
        agreement_id=agreement_id, version=row.version, in_force_from=span.start, in_force_to=span.end
    )


@router.get("/parties/{party_id}/review-pack", responses=FORMATS, response_class=Response)
async def review_pack(
    party_id: str,
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    period: PeriodQuery = None,
    start: datetime | None = None,
    end: datetime | None = None,
    format: Format = "json",
    lang: LangQuery = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
    timezone: Annotated[str, Query(max_length=64, description="zone of the period's bounds")] = "UTC",
) -> Response:
    """Every agreement of a customer for one period, in one document (the service review pack)."""
    language = _language(lang, accept_language)
    if principal.is_customer_only and party_id != principal.party:
        raise NotFound(f"No party {party_id}")
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError) as exc:
        message = f"timezone {timezone!r} is not a known IANA time zone"
        raise Unprocessable(message, errors=[FieldError(field="timezone", message=message)]) from exc
    chosen = _period(period, start, end, timezone)
    rows = await reports_repository.party_versions(session, principal, party_id)
    by_agreement: dict[str, list[terms.AgreementTerms]] = {}
    for row in rows:
        by_agreement.setdefault(row.agreement_id, []).append(row)
    chosen_versions: dict[str, terms.AgreementTerms] = {}
    for agreement_id, found in by_agreement.items():
        if spans := in_force.within([v.activated() for v in found], chosen.start, chosen.end):
            chosen_versions[agreement_id] = next(v for v in found if v.version == spans[-1].version)
    trend = request.app.state.settings.report_trend_periods
    reports = [await agreement_report(session, v, chosen, trend_count=trend) for v in chosen_versions.values()]
    fmt = Formatter(language, timezone)
    _, party_name = await names.names_of(session, tenant=principal.tenant, service_key="", party_id=party_id)
    for report in reports:
        report["chain"] = await _chain_of(session, principal.tenant, report, chosen)
    document = {"party_id": party_id, "party_name": party_name, "period": chosen.label, "reports": reports,
                "agreed_outcomes": []}  # fmt: skip
    title = f"{fmt.t('review_pack')}: {party_name} ({chosen.label})"
    return await _respond(request, reports, document, fmt, format, title, meeting=True)


async def _chain_of(
    session: SessionDep, tenant: str, report: dict[str, Any], period: periods.Period
) -> list[dict[str, Any]]:
    """For each objective breached in the period, the supporting objectives in trouble then (chain diagnosis)."""
    found: list[dict[str, Any]] = []
    if min(period.end, utcnow()) - period.start < timedelta(minutes=1):
        return found  # a period not yet begun has no chain to diagnose
    for objective in report["objectives"]:
        if not objective["breaches"]:
            continue
        row = await repository.find_objective(session, tenant=tenant, objective_id=objective["objective_id"])
        if row is None:
            continue
        end = min(period.end, utcnow())
        diagnosis = await chain_service.diagnose(session, row, start=period.start, end=end, now=utcnow())
        found.append({"objective_id": objective["objective_id"], "implicated": diagnosis["implicated"]})
    return found
