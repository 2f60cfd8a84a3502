"""Objective lookups: an objective by id for hot reads, and the entity of a row a pass read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, bindparam, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from slm_measurement.models import Objective
from slm_shared.reads import Reader

if TYPE_CHECKING:
    from slm_measurement.repository import ObjectiveRow

_OBJECTIVES = Objective.__table__  # type: ignore[attr-defined]
_OBJECTIVE_BY_ID = (
    select(_OBJECTIVES)
    .where(_OBJECTIVES.c.tenant == bindparam("tenant"), _OBJECTIVES.c.objective_id == bindparam("objective_id"))
    .order_by(_OBJECTIVES.c.ended, _OBJECTIVES.c.updated_at.desc(), _OBJECTIVES.c.id)
    .limit(1)
)


def _objective_lookup() -> Select[Any]:
    """Both lookups of `find_objective` in one statement and one pass over the table: the rows matching either
    id (each searched by its own index), those found by objective id ranked first (live before ended, the
    newest first), then the one whose row id it is.

    Not a UNION ALL of the two lookups: on PostgreSQL that read the table twice and sorted twice (an Append of
    two scans, each under its own sort, under a third), about half as much work again on the server per read
    as the lookup by objective id alone, and before the table's first ANALYZE each branch scanned the tenant.
    """
    wanted: BindParameter[str] = bindparam("objective_id")
    tenant = _OBJECTIVES.c.tenant == bindparam("tenant")
    by_objective_id = _OBJECTIVES.c.objective_id == wanted
    return (
        select(_OBJECTIVES)
        # the tenant in each branch of the OR, so that each is one index search (SQLite's multi-index OR);
        # it relies on each `tenant` bind compiling to its own `?` (as `CompiledRead` does): with literal
        # values SQLite merges the two equal terms and scans the tenant (test_objective_lookup_index.py)
        .where(or_(and_(tenant, by_objective_id), and_(tenant, _OBJECTIVES.c.id == wanted)))
        .order_by(
            case((by_objective_id, 0), else_=1),
            _OBJECTIVES.c.ended,
            _OBJECTIVES.c.updated_at.desc(),
            _OBJECTIVES.c.id,
        )
        .limit(1)
    )


_OBJECTIVE_LOOKUP = _objective_lookup()


async def objective_row(reads: Reader, *, tenant: str, objective_id: str) -> Any | None:
    """`find_objective` as a row of the objectives table, for hot reads (same order, same fallback to the row id).

    One statement, so one round trip and one snapshot: a row either lookup finds is one both saw at once."""
    return await reads.first(_OBJECTIVE_LOOKUP, {"tenant": tenant, "objective_id": objective_id})


async def entity_of(session: AsyncSession, objective: Objective | ObjectiveRow) -> Objective:
    """The entity of an objective row (locked already by this transaction), to change and flush."""
    if isinstance(objective, Objective):
        return objective
    found = await session.get(Objective, objective.id)
    assert found is not None, objective.id  # locked by this transaction, so still there
    return found
