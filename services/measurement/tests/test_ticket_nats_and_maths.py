"""Ticket events over NATS with the workers running; credits, periods and languages worked by hand."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import nats
import pytest
from measurement_support import eventually
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.reports import credits, periods
from slm_measurement.reports.i18n import choose
from slm_shared.terms.credits import CreditTerms
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

RESPONSE_SECONDS = 10


async def test_ticket_events_from_nats_breach_on_time_with_no_further_data(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(
        database_url=database_url,
        **nats_server.service_login("measurement"),
        environment="test",
        ticket_poll_seconds=60.0,  # longer than the test: the clock wakes at each next-due instant, not on a poll
    )
    app = build_app(settings)
    key = f"nats-desk-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}", "Nats-Msg-Id": f"{key}-m"}
    nc = await nats.connect(nats_server.url)
    try:
        async with running_app(app, token=make_token("acme")):
            db = app.state.db
            targets = [{"priority": "P1", "response_seconds": RESPONSE_SECONDS, "resolution_seconds": 3600}]
            await activate(
                db, ticket_agreement(agreement_id=f"a-{key}", service_key=key, party=None, ticket_targets=targets)
            )
            js = nc.jetstream()
            await eventually(lambda: _stream_ready(js))
            # opened once the service is up, with time for a loaded machine to ingest it before its first warning
            # (at half the response time): a ticket ingested after its warnings' instants gets its breach alone
            opened = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
            body = json.dumps([{"id": f"{key}-1", "ticket_id": f"{key}-T", "type": "opened",
                                "at": opened.isoformat(), "service": key, "priority": "P1"}]).encode()  # fmt: skip
            for _ in range(2):  # a redelivered message is applied once
                await js.publish("slm.ingest.acme.tickets", body, headers=headers)
            breached = await eventually(
                lambda: outbox(db, "slm.measurement.ticket.sla_breached.v1", ticket_id=f"{key}-T"),
                timeout=RESPONSE_SECONDS + 10,
            )
            observed = datetime.fromisoformat(breached[0]["observed_at"])
            assert datetime.fromisoformat(breached[0]["due_at"]) == opened + timedelta(seconds=RESPONSE_SECONDS)
            late = observed - (opened + timedelta(seconds=RESPONSE_SECONDS))
            assert late < timedelta(seconds=5)  # fired by the clock, no new event
            warnings = await outbox(db, "slm.measurement.ticket.sla_warning.v1", ticket_id=f"{key}-T")
            assert [w["threshold"] for w in warnings] == [0.5, 0.75]
    finally:
        await nc.close()


async def _stream_ready(js) -> bool:  # type: ignore[no-untyped-def]
    try:
        await js.stream_info("SLM_INGEST")
        return True
    except Exception:
        return False


def _attained(**values: float | None) -> list[credits.Attained]:
    return [credits.Attained(name, name, value) for name, value in values.items()]


def test_credit_bands_take_the_worst_band_reached_and_prorate_the_price() -> None:
    bands = [{"below": 0.999, "down_to": 0.99, "credit_percent": "5"}, {"below": 0.99, "credit_percent": "20"},
             {"below": 0.95, "down_to": 0.0, "credit_percent": "50", "indicator": "latency"}]  # fmt: skip
    monthly = {"amount": "1200", "currency": "EUR", "period": "year"}
    owed = credits.credit_owed(_attained(availability=0.995, latency=0.97), bands, monthly, months=1, seconds=0)
    assert (owed.percent, owed.objective_id, owed.base, owed.amount) == (
        Decimal(20),
        "latency",
        Decimal("100.00"),
        Decimal("20.00"),
    )
    at_edge = credits.credit_owed(_attained(availability=0.999), bands, monthly, months=3, seconds=0)
    assert (at_edge.percent, at_edge.base, at_edge.amount) == (Decimal(0), Decimal("300.00"), Decimal("0.00"))
    ranged = credits.credit_owed(
        _attained(availability=0.98), bands, {"amount": "300", "currency": "USD"}, months=None, seconds=15 * 86400
    )
    assert (ranged.base, ranged.amount, ranged.currency) == (Decimal("150.00"), Decimal("30.00"), "USD")
    assert credits.credit_owed(_attained(availability=None), bands, None, months=1, seconds=0).amount is None


def test_credit_terms_cap_the_share_and_price_a_partial_period() -> None:
    bands = [{"below": 0.99, "credit_percent": "30", "indicator": "availability"}]
    monthly = {"amount": "1000", "currency": "EUR", "period": "month"}
    half = Decimal("0.5")
    capped = CreditTerms(cap_percent=Decimal(25), partial_period="pro_rata")
    owed = credits.credit_owed(_attained(availability=0.9), bands, monthly, months=1, seconds=0, terms=capped,
                               in_force_share=half)  # fmt: skip
    assert (owed.percent, owed.base, owed.amount) == (Decimal(25), Decimal("500.00"), Decimal("125.00"))
    whole = CreditTerms(partial_period="full")
    owed = credits.credit_owed(_attained(availability=0.9), bands, monthly, months=1, seconds=0, terms=whole,
                               in_force_share=half)  # fmt: skip
    assert (owed.percent, owed.base, owed.amount) == (Decimal(30), Decimal("1000.00"), Decimal("300.00"))
    unnamed = credits.credit_owed(_attained(latency=0.5), bands, monthly, months=1, seconds=0)
    assert unnamed.percent == 0  # the band covers availability only


def test_periods_in_the_agreements_zone_and_languages() -> None:
    march = periods.parse("2026-03", start=None, end=None, timezone="Europe/Lisbon")
    assert (march.start, march.end) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, 23, tzinfo=UTC))
    assert [p.label for p in periods.previous(march, 3)] == ["2025-12", "2026-01", "2026-02"]
    assert [p.label for p in periods.previous(periods.parse("2026-Q1", start=None, end=None, timezone="UTC"), 2)] == [
        "2025-Q3",
        "2025-Q4",
    ]
    assert periods.last_closed_month(datetime(2026, 1, 1, 0, 30, tzinfo=UTC), "Europe/Warsaw").label == "2025-12"
    assert periods.last_closed_month(datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "UTC").label == "2025-11"
    with pytest.raises(periods.PeriodError):
        periods.parse(
            None, start=datetime(2026, 3, 2, tzinfo=UTC), end=datetime(2026, 3, 1, tzinfo=UTC), timezone="UTC"
        )
    assert (
        choose(None, "fr-FR, ru;q=0.8, en;q=0.5") == "ru"
        and choose("pt-BR", "es") == "pt"
        and choose(None, None) == "en"
    )
