"""Reports as JSON, CSV (raw value and the value formatted for the language) and HTML with charts."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from slm_measurement.reports import charts
from slm_measurement.reports.i18n import Formatter

_ENV = Environment(
    loader=PackageLoader("slm_measurement.reports", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def plain(value: Any) -> Any:
    """JSON-ready data: instants as ISO 8601, money as decimal strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _result(fmt: Formatter, met: bool | None) -> str:
    return fmt.t("no_data") if met is None else fmt.t("met") if met else fmt.t("missed")


def csv_rows(report: dict[str, Any], fmt: Formatter) -> list[list[str]]:
    """One row per fact: section, agreement_id, item, field, value, formatted."""
    agreement = report["agreement_id"]
    rows: list[list[Any]] = []

    def add(section: str, item: str, field: str, value: Any, shown: str | None = None) -> None:
        raw = plain(value)
        rows.append([section, agreement, item, field, "" if raw is None else raw, shown if shown is not None else raw])

    period = report["period"]
    add("agreement", "", "name", report["agreement_name"])
    add("agreement", "", "service", report["service_key"], report.get("service_name"))
    add("agreement", "", "customer", report["consumer_party_id"], report.get("customer_name"))
    add("agreement", "", "period", period["label"])
    add("agreement", "", "period_start", period["start"], fmt.instant(period["start"]))
    add("agreement", "", "period_end", period["end"], fmt.instant(period["end"]))
    for o in report["objectives"]:
        key = o["objective_id"]
        add("objective", key, "name", o["name"], fmt.objective_name(o))
        add("objective", key, "target", o["target"], fmt.percent(o["target"], 3))
        add("objective", key, "attainment", o["attainment"], fmt.percent(o["attainment"], 3))
        add("objective", key, "met", o["met"], _result(fmt, o["met"]))
        add("objective", key, "good", o["good"], fmt.number(o["good"], 2))
        add("objective", key, "total", o["total"], fmt.number(o["total"], 2))
        add(
            "objective",
            key,
            "budget_remaining_ratio",
            o["budget_remaining_ratio"],
            fmt.percent(o["budget_remaining_ratio"], 1),
        )
        for index, b in enumerate(o["breaches"], start=1):
            add("breach", f"{key}#{index}", "start", b["start"], fmt.instant(b["start"]))
            add("breach", f"{key}#{index}", "end", b["end"], fmt.instant(b["end"]) if b["end"] else fmt.t("ongoing"))
        for point in o["trend"]:
            add("trend", key, point["period"], point["attainment"], fmt.percent(point["attainment"], 3))
        add(
            "objective",
            key,
            "customer_observed_minutes",
            o["customer_observed_minutes"],
            fmt.number(o["customer_observed_minutes"]),
        )
    for seen in report.get("observations", []):
        item = seen["observation_id"]
        add("observation", item, "source", seen["source"], fmt.t("customer_observed"))
        add("observation", item, "summary", seen["summary"])
        add("observation", item, "start", seen["start"], fmt.instant(seen["start"]))
        add("observation", item, "end", seen["end"], fmt.instant(seen["end"]))
        add("observation", item, "counts", seen["counts"], fmt.t("yes") if seen["counts"] else fmt.t("no"))
    for t in report["tickets"]:
        item = f"{t['priority']}/{t['clock']}"
        add("tickets", item, "met", t["met"], fmt.number(t["met"]))
        add("tickets", item, "total", t["total"], fmt.number(t["total"]))
        add("tickets", item, "compliance", t["compliance"], fmt.percent(t["compliance"], 1))
    add("maintenance", "", "minutes", report["maintenance"]["minutes"], fmt.number(report["maintenance"]["minutes"]))
    for a in report["actions"]:
        add("action", a["action_id"], "title", a["title"], fmt.action_title(a))
        if a.get("description"):
            add("action", a["action_id"], "description", a["description"], fmt.action_description(a))
        add("action", a["action_id"], "due_on", a["due_on"])
        add("action", a["action_id"], "status", a["status"])
        if a.get("change_status"):
            add("action", a["action_id"], "change_status", a["change_status"], fmt.word("change", a["change_status"]))
            add("action", a["action_id"], "change_ref", a.get("change_ref"))
    credit = report["credit"]
    add("credit", "", "percent", credit["percent"], fmt.number(credit["percent"], 2) + " %")
    add("credit", "", "period_price", credit["period_price"], fmt.money(credit["period_price"], credit["currency"]))
    add("credit", "", "amount", credit["amount"], fmt.money(credit["amount"], credit["currency"]))
    add("credit", "", "currency", credit["currency"])
    return [[str(c) if c is not None else "" for c in row] for row in rows]


def to_csv(reports: list[dict[str, Any]], fmt: Formatter) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "agreement_id", "item", "field", "value", "formatted"])
    for report in reports:
        writer.writerows(csv_rows(report, fmt))
    return buffer.getvalue()


def _charts(report: dict[str, Any], fmt: Formatter) -> dict[str, dict[str, Markup]]:
    drawn = {}
    for o in report["objectives"]:
        burn = [(fmt.day(p["at"]), p["remaining_ratio"]) for p in o["burn_down"]]
        bars = [(p["period"], p["attainment"], fmt.percent(p["attainment"], 2)) for p in o["trend"]]
        name = fmt.objective_name(o)
        drawn[o["objective_id"]] = {
            "burn_down": Markup(
                charts.burn_down(
                    f"{fmt.t('burn_down')}: {name}",
                    burn,
                    x_label=fmt.t("day"),
                    y_label=fmt.t("budget_left"),
                    zero_label=fmt.percent(0.0, 0),
                    percent=lambda v: fmt.percent(v, 0),
                )
            ),
            "trend": Markup(
                charts.trend(
                    f"{fmt.t('trend')}: {name}", bars, o["target"], x_label=fmt.t("period"), y_label=fmt.t("attainment")
                )
            ),
        }
    return drawn


def to_html(reports: list[dict[str, Any]], fmt: Formatter, *, title: str, meeting: bool = False) -> str:
    """A self-contained page (inline CSS and SVG) for people; `meeting` adds the review pack's summary and outcomes."""
    return _ENV.get_template("report.html").render(
        title=title,
        meeting=meeting,
        lang=fmt.lang,
        fmt=fmt,
        reports=[{"data": r, "charts": _charts(r, fmt)} for r in reports],
        result=lambda met: _result(fmt, met),
    )
