"""The flagged pass stops when cancelled, even when a library turns the cancellation into another error.

Before, its retry loop caught that error as an objective's failure and ran the chunk again, guarded, in a
new transaction: a stopping worker took one more transaction (or, for a chunk of one, one more session).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_evaluation_pass_own_terms import _due

from slm_measurement import flagged_pass
from slm_shared.db import Database


@pytest.mark.parametrize("chunk", [5, 1], ids=["chunk-retried-guarded", "chunk-of-one-remembered"])
async def test_a_cancellation_turned_into_an_error_stops_the_flagged_pass(
    database_url: str, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    db = Database(database_url)
    try:
        await _due(db)  # never evaluated: what the flagged pass chooses
        real = flagged_pass.evaluate_chunk
        entered, calls = asyncio.Event(), list[bool]()

        async def converting(session: Any, objectives: Any, **kwargs: Any) -> int:
            calls.append(kwargs["guarded"])
            if len(calls) > 1:
                return await real(session, objectives, **kwargs)
            entered.set()
            try:
                await asyncio.sleep(30)  # the library's wait, in the real transaction
            except asyncio.CancelledError as cancelled:
                raise RuntimeError("connection closed") from cancelled  # what some drivers raise instead
            return 0

        monkeypatch.setattr(flagged_pass, "evaluate_chunk", converting)
        task = asyncio.create_task(flagged_pass.evaluate_flagged(db, limit=100, chunk=chunk))
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the flagged pass did not end"
        assert task.cancelled(), f"the pass went on after its cancellation: {task.result()}"
        assert calls == [False], "no other try of the chunk after the cancellation"
    finally:
        await db.dispose()
