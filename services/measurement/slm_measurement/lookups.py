"""Objective lookups: an objective by id for hot reads, and the entity of a row a pass read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

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
_OBJECTIVE_BY_ROW_ID = select(_OBJECTIVES).where(
    _OBJECTIVES.c.tenant == bindparam("tenant"), _OBJECTIVES.c.id == bindparam("objective_id")
)


def _objective_lookup() -> Select[Any]:
    """Both lookups of `find_objective` in one statement: the row found by objective id ranks before the one
    found by row id, and each branch searches its own index as it would alone."""
    by_id = _OBJECTIVE_BY_ID.add_columns(literal_column("0").label("lookup_rank")).subquery("by_id")
    by_row_id = _OBJECTIVE_BY_ROW_ID.add_columns(literal_column("1").label("lookup_rank")).limit(1)
    both = union_all(select(by_id), select(by_row_id.subquery("by_row_id"))).subquery("found")
    columns = [both.c[column.key] for column in _OBJECTIVES.columns]
    return select(*columns).order_by(both.c.lookup_rank).limit(1)


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
