"""A chunk's pure-Python work gives the event loop a turn between slices of objectives.

The reads the API serves share the loop with the evaluation pass when both run in one process: a
chunk that plans, judges or builds the outcomes of all its objectives in one step holds them back
for that long. Here another task counts the loop's turns while the pass plans, judges and writes
objectives, and no slice longer than `SLICE` goes without one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from test_evaluation_pass_own_terms import TERMS, _due

from slm_measurement import evaluation_pass
from slm_measurement.service import evaluate_due
from slm_shared.db import Database

OBJECTIVES = len(TERMS) * 2


def _longest_run(steps: list[str], kind: str) -> int:
    """The most `kind` steps in a row with no turn of the loop between them."""
    longest = run = 0
    for step in steps:
        run = run + 1 if step == kind else (0 if step == "turn" else run)
        longest = max(longest, run)
    return longest


async def test_planning_judging_and_writing_a_chunk_give_the_loop_a_turn_every_slice(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation_pass, "SLICE", 4)
    steps: list[str] = []

    def noted(kind: str, work: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            steps.append(kind)
            return work(*args, **kwargs)

        return step

    # The real functions, each call noted in order with the loop's turns.
    monkeypatch.setattr(evaluation_pass, "plan", noted("plan", evaluation_pass.plan))
    monkeypatch.setattr(evaluation_pass, "read_alike", noted("judge", evaluation_pass.read_alike))
    monkeypatch.setattr(evaluation_pass, "_outcome_rows", noted("write", evaluation_pass._outcome_rows))
    monkeypatch.setattr(evaluation_pass, "_record_events", noted("event", evaluation_pass._record_events))
    db = Database(sqlite_url)
    try:
        await _due(db)
        evaluating = asyncio.create_task(evaluate_due(db, interval=timedelta(0), limit=100, chunk=OBJECTIVES))
        while not evaluating.done():
            steps.append("turn")
            await asyncio.sleep(0)
        assert await evaluating == OBJECTIVES
    finally:
        await db.dispose()
    # Those batched (read together; the timeslice ones are evaluated alone), many slices of each.
    assert steps.count("plan") == steps.count("judge") == steps.count("write") >= OBJECTIVES - 4
    assert steps.count("event") > 4
    for kind in ("plan", "judge", "write", "event"):
        assert _longest_run(steps, kind) <= 4, (kind, _longest_run(steps, kind))
