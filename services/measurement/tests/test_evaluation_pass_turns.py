"""A chunk's pure-Python work gives the event loop a turn between slices of objectives.

The reads the API serves share the loop with the evaluation pass when both run in one process: a
chunk that plans, judges or builds the outcomes of all its objectives in one step holds them back
for that long. Here another task counts the loop's turns while the pass plans, groups, reads, judges
and writes objectives, and no slice longer than `SLICE` goes without one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
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

    real_plan = evaluation_pass.plan

    def plan(*args: Any, **kwargs: Any) -> Any:
        steps.append("plan")
        made = real_plan(*args, **kwargs)
        # Each plan its own `ranges` mapping: every objective is grouped by its signed ranges (`objective_ranges`).
        return dataclasses.replace(made, ranges=dict(made.ranges))

    class NotedTallies(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            steps.append("result")  # a group's read tallies handed to one of its objectives
            super().__setitem__(key, value)

    @dataclass(frozen=True)
    class NotedReads(evaluation_pass._Reads):
        tallies: dict[str, Any] = field(default_factory=NotedTallies)

    # The real functions, each call noted in order with the loop's turns.
    monkeypatch.setattr(evaluation_pass, "plan", plan)
    monkeypatch.setattr(evaluation_pass, "objective_ranges", noted("group", evaluation_pass.objective_ranges))
    monkeypatch.setattr(evaluation_pass, "_Reads", NotedReads)
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
    counts = {kind: steps.count(kind) for kind in ("plan", "group", "result", "judge", "write")}
    assert set(counts.values()) == {counts["plan"]} and counts["plan"] >= OBJECTIVES - 4, counts
    assert steps.count("event") > 4
    for kind in ("plan", "group", "result", "judge", "write", "event"):
        assert _longest_run(steps, kind) <= 4, (kind, _longest_run(steps, kind))
