"""A batch's services, keys, series and ticket ids are bound as one parameter each, whatever their number.

PostgreSQL's driver takes at most 32,767 parameters per statement: a list bound one parameter per item past that
failed the whole batch (a 500). A columnar REST batch names 33,000 services in about 3 MB, within the 16 MiB body
limit; the ticket and NATS paths are called at the functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String, null, select, type_coerce

from slm_measurement import bound_lists, catalog_keys, flagging
from slm_measurement.catalog_keys import INDICATOR, SERVICE, CatalogKey
from slm_measurement.ingest import Point
from slm_measurement.models import Objective
from slm_measurement.tickets import service as tickets
from slm_measurement.tickets.schemas import TicketEventIn
from slm_shared.db import Database
from slm_shared.errors import Unprocessable

MANY = 33_000  # more than either database's limit of bound parameters in one statement
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _objective(service_key: str, indicator: str) -> Objective:
    return Objective(
        tenant="acme",
        agreement_id=f"a-{service_key}-{indicator}",
        agreement_version=1,
        agreement_kind="sla",
        objective_id="o",
        service_key=service_key,
        indicator=indicator,
        target=0.99,
        window_kind="rolling",
        window_duration="30d",
    )


async def test_a_batch_of_more_services_than_parameters_is_checked_against_the_catalogue(db: Database) -> None:
    batch = [Point(service=f"s{n}", indicator="availability", timestamp=NOW, good=1, total=1) for n in range(MANY)]
    batch.append(Point(service="s0", indicator="checkout_errors", timestamp=NOW, good=1, total=1))
    async with db.session() as session:
        session.add_all(CatalogKey(tenant="acme", kind=SERVICE, key=f"s{n}") for n in range(0, MANY, 2))
        session.add(CatalogKey(tenant="acme", kind=INDICATOR, key="checkout_errors"))
        session.add(CatalogKey(tenant="other", kind=SERVICE, key="s1"))
        session.add(_objective("s3", "availability"))  # an objective names its service too

    async with db.session() as session:
        warnings, _ = await catalog_keys.check_batch_in_force(session, tenant="acme", batch=batch, mode="warn")

    unknown = {f"[{n}].service: the catalogue has no service 's{n}'" for n in range(1, MANY, 2)} - {
        "[3].service: the catalogue has no service 's3'"
    }
    assert set(warnings) == unknown and len(warnings) == len(unknown)


async def test_a_batch_of_more_series_than_parameters_flags_their_objectives(db: Database) -> None:
    async with db.session() as session:
        session.add_all([_objective("s7", "availability"), _objective("s7", "latency"), _objective("s8", "latency")])

    series = {(f"s{n}", "availability") for n in range(MANY)} | {("s8", "latency")}
    async with db.session() as session:
        flagged = await flagging.flag_series_for_evaluation(
            session, tenant="acme", series=series, evaluated_before=NOW, read=True
        )
        rows = flagging.rows_of(session, flagged)

    assert sorted((row.service_key, row.indicator) for row in rows) == [("s7", "availability"), ("s8", "latency")]
    assert all(f.due for f in flagged)


async def test_a_batch_of_more_ticket_events_than_parameters_is_read_against_the_stored_ones(db: Database) -> None:
    opened = TicketEventIn(id="e-open", ticket_id="known", type="opened", at=NOW, service="svc", priority="P1")
    async with db.session() as session:
        await tickets.ingest_events(session, tenant="acme", batch=[opened], rules=tickets.TicketRules())

    assigned = [TicketEventIn(id="e-known", ticket_id="known", type="assigned", at=NOW)]
    unknown = [TicketEventIn(id=f"e{n}", ticket_id=f"t{n}", type="assigned", at=NOW) for n in range(MANY)]
    async with db.session() as session:
        with pytest.raises(Unprocessable) as refused:
            await tickets.ingest_events(
                session, tenant="acme", batch=[opened, *assigned, *unknown], rules=tickets.TicketRules()
            )

    # The event stored before and the known ticket's are read as such: the first refused is the first unknown.
    assert refused.value.errors[0].field == "[2].type"


async def test_a_rest_batch_of_more_services_than_parameters_is_stored(app_client) -> None:  # type: ignore[no-untyped-def]
    """Within the 16 MiB body limit: 33,000 series of one point each, columnar, about 3 MB."""
    _, client = app_client
    stamp = datetime.now(UTC).timestamp() - 120
    series = [
        {"service": f"s{n}", "indicator": "availability", "timestamps": [stamp], "good": [1], "total": [1]}
        for n in range(MANY)
    ]
    answer = await client.post("/v1/measurements", json={"series": series})
    assert answer.status_code == 202, answer.text[:500]
    assert len(answer.json()["warnings"]) == MANY  # warn mode: no catalogue announced them


@pytest.mark.parametrize("negated", [False, True])
async def test_a_bound_list_takes_or_leaves_out_its_items_as_in_and_not_in_do(db: Database, negated: bool) -> None:
    """`bound_lists.is_in`, negated or not, on either database: an empty list, and a NULL column (never taken
    by a non-empty list, either way; taken by an empty one only negated), as `IN` and `NOT IN` answer."""
    async with db.session() as session:
        session.add_all(_objective(f"s{n}", "availability") for n in range(4))
    objectives = Objective.__table__  # type: ignore[attr-defined]
    async with db.session() as session:
        connection = await session.connection()
        postgres = connection.dialect.name == "postgresql"

        async def taken(column: Any, items: list[str]) -> list[Any]:
            found = select(objectives.c.service_key).where(
                bound_lists.is_in(column, "items", postgres=postgres, negated=negated)
            )
            return sorted((await connection.execute(found, {"items": items})).scalars())

        every = [f"s{n}" for n in range(4)]
        assert await taken(objectives.c.service_key, ["s1", "s3", "absent"]) == (
            ["s0", "s2"] if negated else ["s1", "s3"]
        )
        assert await taken(objectives.c.service_key, []) == (every if negated else [])
        no_text = type_coerce(null(), String)
        assert await taken(no_text, ["s1"]) == []
        assert await taken(no_text, []) == (every if negated else [])
