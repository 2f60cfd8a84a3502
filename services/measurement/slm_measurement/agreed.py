"""The time an objective counts: only while a version of its agreement that carries it is in force.

Live evaluation, reads as of an instant, replays, the working and reports all clip their ranges
with `counted`, so a figure never includes time before the agreement came into force, after it
ended, or under a version that did not carry the objective. "In force" is the shared definition
(`slm_shared.terms.in_force`); minutes are the unit of the rollups, so a version counts from the
minute it starts in and up to (not including) the minute it ends in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cached_property
from operator import itemgetter
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Select, Text, bindparam, select, type_coerce
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement import bound_lists, read_model
from slm_measurement.domain.windows import Bounds, floor_minute
from slm_measurement.kept import KeptWhenFull
from slm_measurement.models import Objective
from slm_measurement.sqlite_json import SQLiteInstant, json_of
from slm_measurement.terms import AgreementTerms
from slm_shared.contracts import payloads_v2
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.terms import in_force


@dataclass(frozen=True)
class Agreed:
    """An agreement's activated versions and, per version, the objectives it carries (None: not known)."""

    versions: tuple[in_force.ActivatedVersion, ...]
    carries: dict[int, frozenset[str] | None] = field(default_factory=dict)
    payloads: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    parsed: dict[int, AgreementActivatedV2 | None] = field(default_factory=dict, compare=False, repr=False)

    def agreement(self, number: int) -> AgreementActivatedV2 | None:
        """Version `number`'s stored terms, validated once (None when not stored or not valid)."""
        if number not in self.parsed:
            payload = self.payloads.get(number)
            try:
                found = payloads_v2.agreement_activated(read_model.stored_type(payload), payload) if payload else None
            except ValidationError:
                found = None
            self.parsed[number] = found
        return self.parsed[number]

    @cached_property
    def spans(self) -> list[in_force.Span]:
        """Every version's in-force span (`in_force.spans`), worked out once: a plan clips up to eight ranges."""
        return in_force.spans(self.versions)

    @cached_property
    def instants(self) -> tuple[tuple[tuple[datetime, tzinfo | None] | None, ...], ...]:
        """Each version's instants (from, activated, to, ended) in UTC with their zones, worked out once.

        Equal versions compare equal across zones and across a clock change (`fold`); these do not (the
        shared plans of `planning` are keyed by them, and a pass meets the same stored versions every time).
        """
        return tuple(
            tuple(
                None if instant is None else (instant.astimezone(UTC), instant.tzinfo)
                for instant in (v.effective_from, v.activated_at, v.effective_to, v.ended_at)
            )
            for v in self.versions
        )

    def within(self, start: datetime, end: datetime) -> list[in_force.Span]:
        """`in_force.within(self.versions, start, end)`, from the spans worked out once."""
        return in_force.clip(self.spans, start, end)

    def counted(self, objective_id: str, start: datetime, end: datetime) -> list[Bounds]:
        """The minute-aligned parts of [start, end) under a version in force that carries the objective."""
        parts: list[Bounds] = []
        for span in self.within(start, end):
            carried = self.carries.get(span.version)
            if carried is not None and objective_id not in carried:
                continue
            lo, hi = floor_minute(span.start), floor_minute(span.end if span.end is not None else end)
            if lo >= hi:
                continue
            if parts and parts[-1].end >= lo:
                parts[-1] = Bounds(parts[-1].start, max(parts[-1].end, hi))
            else:
                parts.append(Bounds(lo, hi))
        return parts

    def counts_whole(self, objective_id: str, start: datetime, end: datetime) -> bool:
        """Whether one version in force, carrying the objective, counts all of [start, end) (minute bounds).

        Then `counted` leaves every range inside it whole, and no version boundary cuts it (`versioned.segments`).
        """
        spans = self.within(start, end)
        if len(spans) != 1:
            return False
        span = spans[0]
        carried = self.carries.get(span.version)
        if carried is not None and objective_id not in carried:
            return False
        # `within` clips every span to [start, end): its end is never open.
        return floor_minute(span.start) == start and floor_minute(cast(datetime, span.end)) == end

    def version_at(self, instant: datetime) -> int | None:
        """The version in force at `instant` (the shared definition), None when none was."""
        return in_force.version_at(self.versions, instant)


def _carried(payload: dict[str, Any] | None) -> frozenset[str] | None:
    if not payload or not isinstance(payload.get("objectives"), list):
        return None
    return frozenset(str(o.get("objective_id")) for o in payload["objectives"] if isinstance(o, dict))


def of_rows(rows: Sequence[AgreementTerms]) -> Agreed:
    ordered = sorted(rows, key=lambda r: r.version)
    return Agreed(
        versions=tuple(r.activated() for r in ordered),
        carries={r.version: _carried(r.payload) for r in ordered},
        payloads={r.version: r.payload for r in ordered},
    )


def of_objective(objective: Objective) -> Agreed | None:
    """What the objective row alone says (its agreement's terms not stored): in force from its effective_from."""
    if objective.effective_from is None:
        return None
    version = in_force.ActivatedVersion(
        version=objective.agreement_version,
        effective_from=objective.effective_from,
        activated_at=objective.effective_from,
        effective_to=objective.effective_to,
    )
    return Agreed(versions=(version,))


def _terms_of(postgres: bool) -> Select[Any]:
    """The columns of an agreement's stored versions that decide what is counted (`of_rows`), by agreement.

    Core rows, not entities: a pass reads them for every objective it evaluates (on SQLite its instants
    through `SQLiteInstant`). The activation payload is read as its stored text, decoded only when its
    agreement's versions are not known yet (`agreed_from_stored`). One statement text whatever the list's length,
    the list bound as one parameter (`bound_lists.is_in`): building an IN of many literals costs more than the read.
    """
    table = AgreementTerms.__table__  # type: ignore[attr-defined]
    instants = [table.c.effective_from, table.c.activated_at, table.c.effective_to, table.c.ended_at]
    return select(
        table.c.tenant,
        table.c.agreement_id,
        table.c.version,
        *(instants if postgres else [type_coerce(c, SQLiteInstant()).label(c.key) for c in instants]),
        type_coerce(table.c.payload.cast(Text) if postgres else table.c.payload, Text).label("payload"),
    ).where(
        table.c.tenant == bindparam("tenant"),
        bound_lists.is_in(table.c.agreement_id, "agreement_ids", postgres=postgres),
    )


_TERMS_OF = {False: _terms_of(False), True: _terms_of(True)}  # by whether the database is PostgreSQL

# One version as `_terms_of` reads it: (version, effective_from, activated_at, effective_to, ended_at, payload text).
StoredVersion = tuple[int, datetime, datetime | None, datetime | None, datetime | None, str | None]


async def agreed_many(session: AsyncSession, objectives: Iterable[Objective]) -> dict[tuple[str, str], Agreed]:
    """The agreed versions of every objective's agreement, by (tenant, agreement_id), from one query."""
    keys = {(o.tenant, o.agreement_id) for o in objectives}
    by_tenant: dict[str, list[str]] = {}
    for tenant, agreement_id in sorted(keys):
        by_tenant.setdefault(tenant, []).append(agreement_id)
    found: dict[tuple[str, str], list[StoredVersion]] = {}
    if not by_tenant:
        return {}
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    statement = _TERMS_OF[postgres]
    for tenant, agreement_ids in by_tenant.items():
        for offset in range(0, len(agreement_ids), 500):
            params = {"tenant": tenant, "agreement_ids": agreement_ids[offset : offset + 500]}
            for row in await connection.execute(statement, params):
                # Unpacked, not read by name (a Row's attribute lookup costs more than the rest of the row).
                row_tenant, agreement_id, *stored = row
                found.setdefault((row_tenant, agreement_id), []).append(cast(StoredVersion, tuple(stored)))
    return {
        key: agreed_from_stored(tuple(sorted(versions, key=itemgetter(0))), postgres) for key, versions in found.items()
    }


# An agreement's stored versions worked out (`agreed_from_stored`), by everything read of them, kept when full
# (`kept`: a pass meets the same agreements in the same order every time), bounded by entries and payload text.
# What an entry holds is its payload decoded and, once asked for, validated: measured (tracemalloc, activation
# payloads of one and five objectives) about 4-4.5 bytes per character of its text decoded, 9.5-10.5 validated.
# At 4 Mi characters, some 18-42 MiB per process, beside the 384Mi a measurement pod requests (deploy/SIZING.md).
_AGREED: KeptWhenFull[tuple[Any, ...], Agreed] = KeptWhenFull(8192, max_weight=4 * 2**20)


def agreed_from_stored(stored: tuple[StoredVersion, ...], postgres: bool) -> Agreed:
    """`of_rows` of an agreement's versions as `_terms_of` reads them, oldest first, worked out once per distinct
    stored versions (up to the cache's bounds above; an entry weighs its payloads' text length).

    The key is every column read, the payload by a 16-byte BLAKE2b digest of its text (not the text itself),
    so an amended, ended or re-activated agreement is a new key. The value is shared: only its caches filled
    on first use (`Agreed.parsed`, `spans`, `instants`) change, each to what any copy would hold.
    """
    key = (postgres, *((*columns, None if text is None else _digest(text)) for *columns, text in stored))
    if (found := _AGREED.get(key)) is not None:
        return found
    agreed = _worked_out(stored)
    _AGREED.keep(key, agreed, weight=sum(len(text) for *_, text in stored if text is not None))
    return agreed


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _worked_out(stored: tuple[StoredVersion, ...]) -> Agreed:
    # The payload is read as text on either database (`_terms_of`), so a known agreement's is never decoded;
    # `json_of` gives the values `json.loads` does.
    payloads = {number: json_of(text) for number, *_, text in stored}
    return Agreed(
        # What `AgreementTerms.activated` gives (a test compares the two).
        versions=tuple(
            in_force.ActivatedVersion(
                version=number,
                effective_from=effective_from,
                activated_at=activated_at or effective_from,
                effective_to=effective_to,
                ended_at=ended_at,
            )
            for number, effective_from, activated_at, effective_to, ended_at, _ in stored
        ),
        carries={number: _carried(payload) for number, payload in payloads.items()},
        payloads=payloads,
    )


def agreed_for(objective: Objective, known: dict[tuple[str, str], Agreed]) -> Agreed | None:
    """The objective's agreement as stored, else what its own row says."""
    return known.get((objective.tenant, objective.agreement_id)) or of_objective(objective)


async def agreed_of(session: AsyncSession, objective: Objective) -> Agreed | None:
    return agreed_for(objective, await agreed_many(session, [objective]))


def counted_ranges(
    agreed: Agreed | None, objective_id: str, ranges: dict[str, Bounds]
) -> dict[str, list[Bounds]] | None:
    """Each labelled range clipped to the time counted (None: nothing is clipped)."""
    if agreed is None:
        return None
    return {label: agreed.counted(objective_id, r.start, r.end) for label, r in ranges.items()}


def as_defined_at(objective: Objective, agreed: Agreed | None, instant: datetime) -> Objective:
    """The objective as the version in force at `instant` defined it (a copy, never stored).

    The stored row holds the version applied last; a read as of an earlier (or later) instant uses
    the version in force then, by the shared definition. Without that version's terms, or when it
    did not carry the objective, the row is used as it is.
    """
    if agreed is None or (number := agreed.version_at(instant)) is None:
        return objective
    return defined_by(objective, agreed, number)


def defined_by(objective: Objective, agreed: Agreed, number: int) -> Objective:
    """The objective as version `number` of its agreement defined it (a copy), or the row when not known."""
    if number == objective.agreement_version:
        return objective
    agreement = agreed.agreement(number)
    if agreement is None:
        return objective
    target = next((t for t in agreement.objectives if t.objective_id == objective.objective_id), None)
    if target is None:
        return objective
    if isinstance(objective, Objective):
        unloaded = sa_inspect(objective, raiseerr=True).unloaded  # deferred columns stay unread
        columns = {
            column.key: getattr(objective, column.key)
            for column in Objective.__table__.columns  # type: ignore[attr-defined]
            if column.key not in unloaded
        }
    else:  # a `repository.ObjectiveRow`, read by the evaluation pass (the columns it reads)
        columns = cast(Any, objective)._asdict()
    return Objective(**{**columns, **read_model.definition(agreement, target)})
