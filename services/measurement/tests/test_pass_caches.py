"""What a pass keeps between passes (stored versions worked out, SQLite instants parsed) still serves it when a
pass reads more than the caches hold, stays within their bounds, and a chunk locks only active objectives.

A pass meets agreements and instants in the same order every time: a cache dropping its least recently
used entry would drop exactly the next one needed, and never hit once a pass reads one entry more than it holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import SQLModel

from slm_measurement import agreed, pass_locks, sqlite_json
from slm_measurement.kept import KeptWhenFull
from slm_measurement.models import Objective
from slm_shared.db import Database

NOW = datetime(2026, 3, 12, 10, 17, 42, tzinfo=UTC)


def stored(n: int, payload: str | None = None) -> tuple[agreed.StoredVersion, ...]:
    text = payload if payload is not None else json.dumps({"objectives": [{"objective_id": f"o-{n}"}]})
    return ((1, NOW - timedelta(days=n), None, None, None, text),)


def empty_agreed(
    monkeypatch: pytest.MonkeyPatch, max_entries: int = 8192, max_text: int = 4 * 2**20
) -> KeptWhenFull[tuple[Any, ...], agreed.Agreed]:
    """A new, empty cache of stored versions for this test, with the bounds given (by default the module's)."""
    cache: KeptWhenFull[tuple[Any, ...], agreed.Agreed] = KeptWhenFull(max_entries, max_weight=max_text)
    monkeypatch.setattr(agreed, "_AGREED", cache)
    return cache


def hits(rounds: list[list[object]]) -> int:
    """Lookups after the first round that gave the object the previous round gave (the entry kept)."""
    return sum(a is b for before, after in pairwise(rounds) for a, b in zip(before, after, strict=True))


def test_stored_versions_above_the_bound_mostly_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = empty_agreed(monkeypatch, max_entries=8)
    every = [stored(n) for n in range(10)]  # two more than the cache holds, in the same order each pass
    rounds = [[agreed.agreed_from_stored(s, False) for s in every] for _ in range(12)]
    assert hits(rounds) == 11 * 8  # each later pass finds the eight kept, for good (least recently used: none)
    assert len(cache) == 8


def test_stored_versions_no_longer_read_give_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once more of as many lookups as it holds missed than hit, the cache starts over with what is read now."""
    empty_agreed(monkeypatch, max_entries=8)
    for n in range(8):
        agreed.agreed_from_stored(stored(n), False)
    amended = [stored(n, json.dumps({"objectives": [], "amended": n})) for n in range(8)]  # new payloads: new keys
    rounds = [[agreed.agreed_from_stored(s, False) for s in amended] for _ in range(3)]
    assert all(a is b for a, b in zip(rounds[1], rounds[2], strict=True))
    assert rounds[2][0].carries == {1: frozenset()}


def test_stored_versions_are_bounded_by_their_payloads_text_and_keyed_by_its_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = empty_agreed(monkeypatch, max_text=1_000)
    texts = [json.dumps({"objectives": [], "note": str(n) * 400}) for n in range(5)]
    for text in texts:
        agreed.agreed_from_stored(stored(0, text), False)
    assert len(cache) == 2 and cache.weight == sum(len(text) for text in texts[-2:]) <= 1_000
    assert not any(text in repr(cache.entries) for text in texts)  # the key holds a digest, not the text
    huge = json.dumps({"objectives": [], "note": "x" * 2_000})
    assert agreed.agreed_from_stored(stored(1, huge), False).payloads[1] == json.loads(huge)  # worked out, not kept
    assert len(cache) == 2 and cache.weight <= 1_000


def test_instants_above_the_bound_mostly_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: KeptWhenFull[str, datetime] = KeptWhenFull(8)
    monkeypatch.setattr(sqlite_json, "_INSTANTS", cache)
    texts = [f"2026-03-{day:02d} 10:17:42.000000" for day in range(1, 11)]
    rounds = [[sqlite_json._instant(text) for text in texts] for _ in range(12)]
    assert rounds[0][0] == datetime(2026, 3, 1, 10, 17, 42, tzinfo=UTC)
    assert hits(rounds) == 11 * 8 and len(cache) == 8


def test_a_full_cache_keeps_what_it_holds_until_more_missed_than_hit() -> None:
    cache: KeptWhenFull[str, int] = KeptWhenFull(2, max_weight=10)
    cache.keep("a", 1, weight=4)
    cache.keep("b", 2, weight=4)
    assert cache.get("a") == 1 and cache.get("z") is None and cache.hits == 1
    cache.keep("c", 3)  # full, one hit and one miss of two lookups: not more missed, kept as it is
    assert list(cache.entries) == ["a", "b"] and cache.hits == cache.misses == 0
    cache.keep("c", 3)
    cache.keep("d", 4, weight=1)  # two misses, no hit: starts over with what is read now
    assert cache.entries == {"d": 4} and cache.weight == 1
    cache.keep("e", 5, weight=11)  # heavier than the whole bound: never kept, not counted
    assert cache.entries == {"d": 4} and cache.weight == 1 and cache.misses == 0


async def test_a_listed_objective_no_longer_active_is_not_locked(database_url: str) -> None:
    """The chunk's lock reads `active` around its index (on SQLite `+ objectives.active`): still a condition."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        async with db.session() as session:
            for n in range(3):
                session.add(
                    Objective(
                        id=f"row-{n}",
                        tenant="acme",
                        agreement_id="agreement",
                        agreement_version=1,
                        agreement_kind="SLA",
                        objective_id=f"o-{n}",
                        service_key="api",
                        indicator="availability",
                        target=0.99,
                        window_kind="rolling",
                        window_duration="30d",
                        maintenance_windows=[],
                        details={},
                        firing_alerts=[],
                    )
                )
        async with db.session() as session:
            await session.execute(update(Objective).where(Objective.id == "row-1").values(active=False))  # type: ignore[arg-type]
        ids = ["row-0", "row-1", "row-2"]
        async with db.session() as session:
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=ids, stale_before=NOW)
        assert [row.id for row in locked] == ["row-0", "row-2"]
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "text", ['{"limit": 1e400}', '{"note": "\\ud800 alone"}', '{"note": "\ud800 alone"}', '{"limit": NaN}']
)
def test_a_payload_msgspec_refuses_is_decoded_as_json_loads_decodes_it(text: str) -> None:
    """`json_of` decodes the payload a pass reads as text, on either database: the values `json.loads` gives (a
    lone surrogate escaped, or the character itself, which msgspec cannot even encode to read)."""
    assert repr(sqlite_json.json_of(text)) == repr(json.loads(text))
    assert repr(agreed._worked_out(stored(0, text)).payloads[1]) == repr(json.loads(text))
