"""The ticket clock sleeps until the next due instant; its poll still finds what another process ingested."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from measurement_support import eventually
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.tickets.schemas import TicketEventIn
from slm_measurement.tickets.service import ingest_events
from slm_measurement.tickets.worker import rules_of
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token

BREACHED = "slm.measurement.ticket.sla_breached.v1"
RESPONSE_SECONDS = 3


async def test_a_ticket_another_process_ingested_breaches_though_nothing_woke_the_clock(settings: Settings) -> None:
    # No commit in this process tells its clock about the ticket: the next-due read or the poll (its bound) finds it.
    app = build_app(settings.model_copy(update={"ticket_poll_seconds": 0.5}))
    key = f"other-{uuid.uuid4().hex[:8]}"
    async with running_app(app, token=make_token("acme")):
        db: Database = app.state.db
        targets = [{"priority": "P1", "response_seconds": RESPONSE_SECONDS, "resolution_seconds": 3600}]
        await activate(
            db, ticket_agreement(agreement_id=f"a-{key}", service_key=key, party=None, ticket_targets=targets)
        )
        other = Database(settings.database_url)  # its own engine and no after-commit hooks: another process
        try:
            opened = datetime.now(UTC).replace(microsecond=0)
            event = TicketEventIn(id=f"{key}-1", ticket_id=f"{key}-T", type="opened", at=opened, service=key,
                                  priority="P1")  # fmt: skip
            async with other.session() as session:
                await ingest_events(session, tenant="acme", batch=[event], rules=rules_of(settings))
        finally:
            await other.dispose()
        [breach] = await eventually(lambda: outbox(db, BREACHED, ticket_id=f"{key}-T"), timeout=RESPONSE_SECONDS + 15)
        assert datetime.fromisoformat(breach["due_at"]) == opened + timedelta(seconds=RESPONSE_SECONDS)
        assert datetime.fromisoformat(breach["observed_at"]) >= opened + timedelta(seconds=RESPONSE_SECONDS)
