"""A month worked out by hand, checked number by number in JSON, CSV and HTML; credits; review pack; report.ready."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from ticket_support import TICKET_OBJECTIVE, activate, outbox, ticket_agreement

from slm_measurement import events as measurement_events
from slm_measurement import service
from slm_measurement.ingest import decode_batch
from slm_measurement.models import Objective, ObjectiveTransition
from slm_measurement.reports.worker import run_once
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ImprovementActionV1
from slm_shared.db import Database
from slm_shared.testing import processes
from slm_shared.testing.pytest_plugin import make_token

WEEKDAYS = [{"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")]
OFFICE = {"timezone": "UTC", "hours": WEEKDAYS}
BANDS = [
    {"below": 0.99, "down_to": 0.98, "credit_percent": "10", "objective_id": "availability"},
    {"below": 0.98, "down_to": 0.0, "credit_percent": "25", "objective_id": "availability"},
]


def at(month: int, day: int, hour: int, minute: int = 0) -> str:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC).isoformat()


async def scenario(db: Database, client, suffix: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """June 2025: availability 1975/2000 with 500 bad events in maintenance, two tickets, two breaches."""
    key, agreement_id, party = f"billing-{suffix}", f"agr-{suffix}", f"party-{suffix}"
    await activate(db, ticket_agreement(
        agreement_id=agreement_id, service_key=key, party=party, calendar=OFFICE, credit_schedule=BANDS,
        price={"amount": "1000", "currency": "EUR", "period": "month"},
        ticket_targets=[{"priority": "P1", "response_seconds": 3600, "resolution_seconds": 14400},
                        {"priority": "P2", "response_seconds": 14400, "resolution_seconds": 28800}],
        maintenance_windows=[{"start": at(6, 15, 2), "end": at(6, 15, 4), "reason": "database upgrade"}],
        objectives=[{"objective_id": "availability", "name": "Availability", "indicator": "availability",
                     "target": 0.99, "window": {"kind": "calendar", "unit": "month"}}, TICKET_OBJECTIVE],
    ))  # fmt: skip
    await activate(db, ticket_agreement(agreement_id=f"agr2-{suffix}", service_key=f"mail-{suffix}", party=party))
    points = [
        {"service": key, "indicator": "availability", "timestamp": at(5, 5, 12), "good": 999, "total": 1000},
        {"service": key, "indicator": "availability", "timestamp": at(6, 10, 12), "good": 990, "total": 1000},
        {"service": key, "indicator": "availability", "timestamp": at(6, 15, 3), "good": 0, "total": 500},
        {"service": key, "indicator": "availability", "timestamp": at(6, 20, 12), "good": 985, "total": 1000},
    ]
    limits = service.IngestLimits(max_lateness=timedelta(days=10_000), max_future=timedelta(minutes=5))
    async with db.session() as session:
        await service.ingest_batch(
            session, tenant="acme", batch=decode_batch(json.dumps(points).encode(), ndjson=False), limits=limits
        )
        row = await session.scalar(
            select(Objective).where(Objective.agreement_id == agreement_id, Objective.objective_id == "availability")
        )
        for when, before, after in (
            (at(6, 3, 10), "healthy", "breached"),
            (at(6, 3, 11, 30), "breached", "recovered"),
            (at(6, 20, 12, 5), "recovered", "breached"),
        ):
            session.add(
                ObjectiveTransition(
                    tenant="acme",
                    objective_row_id=row.id,
                    at=datetime.fromisoformat(when),
                    from_status=before,
                    to_status=after,
                )
            )
        await measurement_events.on_action_created(
            session,
            EVENTS.action_created.build(
                tenant="acme",
                data=ImprovementActionV1(
                    action_id=f"act-{suffix}",
                    agreement_id=agreement_id,
                    service_key=key,
                    title="Add a second database replica",
                    owner="ops",
                    due_on=date(2025, 7, 15),
                    status="open",
                    source="breach",
                ),
            ),
        )
    tickets = [
        ("1", "T1", "opened", at(6, 2, 9), "P1"),
        ("2", "T1", "responded", at(6, 2, 9, 30), None),
        ("3", "T1", "resolved", at(6, 2, 12), None),
        ("4", "T2", "opened", at(6, 6, 16), "P2"),
        ("5", "T2", "responded", at(6, 9, 10), None),
        ("6", "T2", "resolved", at(6, 10, 12), None),
    ]
    body = [{"id": f"{suffix}-{i}", "ticket_id": f"{suffix}-{t}", "type": kind, "at": when, "priority": p,
             **({"service": key, "customer": party} if kind == "opened" else {})}
            for i, t, kind, when, p in tickets]  # fmt: skip
    assert (await client.post("/v1/tickets/events", json=body)).status_code == 202
    return agreement_id, party


def check_json(report: dict, agreement_id: str) -> None:
    assert report["period"]["label"] == "2025-06" and report["period"]["start"] == "2025-06-01T00:00:00+00:00"
    by_name = {o["name"]: o for o in report["objectives"]}
    availability, tickets = by_name["Availability"], by_name["Tickets within goal"]
    assert availability["objective_id"] == "availability"
    assert tickets["objective_id"] == "ticket-compliance"
    assert (availability["good"], availability["total"], availability["attainment"]) == (1975, 2000, 0.9875)
    assert availability["met"] is False and availability["target"] == 0.99
    assert availability["budget_remaining_ratio"] == pytest.approx(-0.25)
    assert availability["breaches"] == [
        {"start": "2025-06-03T10:00:00+00:00", "end": "2025-06-03T11:30:00+00:00"},
        {"start": "2025-06-20T12:05:00+00:00", "end": None},
    ]
    assert [(p["period"], p["attainment"]) for p in availability["trend"]] == [
        ("2025-03", None), ("2025-04", None), ("2025-05", 0.999), ("2025-06", 0.9875)]  # fmt: skip
    burn = availability["burn_down"]
    assert len(burn) == 30 and burn[0] == {"at": "2025-06-02T00:00:00+00:00", "remaining_ratio": 1.0}
    assert burn[9]["remaining_ratio"] == pytest.approx(0.0) and burn[-1]["remaining_ratio"] == pytest.approx(-0.25)
    assert (tickets["good"], tickets["total"], tickets["attainment"], tickets["met"]) == (3, 4, 0.75, False)
    assert tickets["budget_remaining_ratio"] == pytest.approx(-4.0)
    assert [(t["priority"], t["clock"], t["met"], t["total"]) for t in report["tickets"]] == [
        ("P1", "resolution", 1, 1), ("P1", "response", 1, 1),
        ("P2", "resolution", 0, 1), ("P2", "response", 1, 1)]  # fmt: skip
    assert report["maintenance"] == {"minutes": 120, "windows": [
        {"start": "2025-06-15T02:00:00+00:00", "end": "2025-06-15T04:00:00+00:00"}]}  # fmt: skip
    assert [a["title"] for a in report["actions"]] == ["Add a second database replica"]
    assert report["credit"] == {"percent": "10", "objective_id": "availability", "attainment": 0.9875,
                                "period_price": "1000.00", "amount": "100.00", "currency": "EUR",
                                "cap_percent": "100", "partial_period": "pro_rata",
                                "in_force_share": "1.000000", "customer_observed": False}  # fmt: skip
    assert (report["objectives_met"], report["objectives_missed"]) == (0, 2)


async def test_a_hand_worked_month_in_every_format_language_and_scope(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    agreement_id, party = await scenario(db, client, uuid.uuid4().hex[:8])
    url = f"/v1/agreements/{agreement_id}/report"
    check_json((await client.get(url, params={"period": "2025-06"})).json(), agreement_id)

    text = (await client.get(url, params={"period": "2025-06", "format": "csv", "lang": "pt"})).text
    rows = {
        (r["section"], r["item"], r["field"]): (r["value"], r["formatted"]) for r in csv.DictReader(io.StringIO(text))
    }
    assert rows[("objective", "availability", "attainment")] == ("0.9875", "98,750%")
    assert rows[("objective", "availability", "met")] == ("False", "Falhado")
    assert rows[("objective", "ticket-compliance", "good")][0] == "3.0"
    assert rows[("breach", "availability#2", "end")] == ("", "em curso")
    assert rows[("tickets", "P2/resolution", "compliance")] == ("0.0", "0,0%")
    assert rows[("maintenance", "", "minutes")] == ("120", "120")
    assert rows[("trend", "availability", "2025-05")] == ("0.999", "99,900%")
    assert rows[("credit", "", "amount")][0] == "100.00" and "100,00" in rows[("credit", "", "amount")][1]

    english = (await client.get(url, params={"period": "2025-06", "format": "html"})).text
    for shown in (
        "98.750%",
        "-25.0%",
        "75.000%",
        "-400.0%",
        "€100.00",
        "€1,000.00",
        "Missed",
        "Jun 20, 2025, 12:05:00\u202fPM",
        "database replica",
        "Excluded minutes: 120",
    ):
        assert shown in english, shown
    polish = await client.get(
        url, params={"period": "2025-06", "format": "html"}, headers={"Accept-Language": "pl;q=0.9, xx"}
    )
    assert polish.headers["content-language"] == "pl" and "98,750%" in polish.text and "Niespełniony" in polish.text
    assert "<script>alert" not in english and english.count('class="chart ') == 4
    quarter = (await client.get(url, params={"period": "2025-Q2"})).json()
    assert (
        next(o for o in quarter["objectives"] if o["name"] == "Availability")["total"] == 3000
        and quarter["credit"]["period_price"] == "3000.00"
    )

    pack = (await client.get(f"/v1/parties/{party}/review-pack", params={"period": "2025-06", "lang": "es"})).json()
    assert [r["agreement_id"] for r in pack["reports"]] == sorted([agreement_id, f"agr2-{agreement_id[4:]}"])
    pack_html = (
        await client.get(
            f"/v1/parties/{party}/review-pack", params={"period": "2025-06", "format": "html", "lang": "ru"}
        )
    ).text
    assert pack_html.count('<section class="agreement"') == 2 and "Пакет обзора услуг" in pack_html

    mine = {"Authorization": f"Bearer {make_token('acme', ('customer',), party)}"}
    theirs = {"Authorization": f"Bearer {make_token('acme', ('customer',), 'party-other')}"}
    assert (await client.get(url, params={"period": "2025-06"}, headers=mine)).status_code == 200
    assert (await client.get(url, params={"period": "2025-06"}, headers=theirs)).status_code == 404
    assert (
        await client.get(f"/v1/parties/{party}/review-pack", params={"period": "2025-06"}, headers=theirs)
    ).status_code == 404
    assert (
        await client.get(url, params={"period": "2025-06"}, headers={"Authorization": f"Bearer {make_token('globex')}"})
    ).status_code == 404
    for params, field in (
        ({"period": "2025-13"}, "period"),
        ({"period": "2025-06", "lang": "fr"}, "lang"),
        ({}, "period"),
    ):
        problem = await client.get(url, params=params)
        assert problem.status_code == 422 and problem.json()["errors"][0]["field"] == field

    july = datetime(2025, 7, 1, 0, 0, 5, tzinfo=UTC)
    assert await run_once(db, trend_count=3, now=july) >= 2
    await run_once(db, trend_count=3, now=july + timedelta(minutes=1))
    [ready] = await outbox(db, "slm.measurement.report.ready.v1", agreement_id=agreement_id)
    assert ready["period"] == "2025-06" and ready["objectives_missed"] == 2 and ready["credit_percent"] == "10"
    assert ready["report_path"] == f"{url}?period=2025-06"


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


async def test_the_html_report_draws_its_charts_in_a_real_browser(app_client) -> None:  # type: ignore[no-untyped-def]
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary found (tools/ensure-chromium.sh installs Debian's chromium)")
    app, client = app_client
    agreement_id, _ = await scenario(app.state.db, client, uuid.uuid4().hex[:8])
    page = (
        await client.get(f"/v1/agreements/{agreement_id}/report", params={"period": "2025-06", "format": "html"})
    ).text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        path.write_text(page, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={folder}/profile", "--dump-dom", path.as_uri(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        processes.started_process(process, "chromium")
        dom, _ = await asyncio.wait_for(process.communicate(), timeout=90)
        processes.stopped(process)
    drawn = [int(n) for n in re.findall(r'data-drawn="(\d+)"', dom.decode())]
    assert len(drawn) == 4, dom.decode()[:2000]
    assert all(n > 0 for n in drawn)  # each chart has laid-out marks: the line, or bars for the periods with data
