"""API models of an objective's working: every figure of an evaluation with the counts behind it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from slm_measurement.figures import Figure
from slm_measurement.schemas import ObjectiveStatus


class Interval(BaseModel):
    """A half-open range [start, end), in the window's time zone and in UTC."""

    start: datetime = Field(description="start in the objective's window time zone")
    end: datetime = Field(description="end (excluded) in the objective's window time zone")
    start_utc: datetime
    end_utc: datetime
    minutes: int = Field(description="whole minutes in the range")


class WindowWorking(Interval):
    """The window (or the period asked for) and the part of it counted so far."""

    kind: Literal["rolling", "calendar", "period"] = Field(description="'period' when start and end were given")
    timezone: str = Field(description="the IANA time zone the window is defined in")
    counted_until_utc: datetime = Field(description="the end of what was counted: the window's end or the as-of minute")
    in_force: list[Interval] = Field(
        description="the parts of the window counted: while a version carrying the objective was in force"
    )


class BudgetWorking(BaseModel):
    """The error budget in the window's own unit: allowed = (1 - target) x total.

    Figures are worked in decimal arithmetic from the target as written and rounded to 15 significant
    digits, so 5% of 1,000 shows as 50 and a share of 0.95 as 0.95, never as 49.99999999999996.
    """

    formula: str = Field(
        "allowed = (1 - target) x total; consumed = total - good; remaining = allowed - consumed",
        description="how the three figures below are computed",
    )
    target: float = Field(description="the least share of good events (or slices)")
    total: float = Field(description="events (or slices) counted in the window, maintenance left out")
    good: float = Field(description="good events (or good slices; for ratio_timeslices the sum of slice ratios)")
    allowed: float = Field(description="(1 - target) x total: the bad events (or slices) the window may have")
    consumed: float = Field(description="total - good: the bad events (or slices) it had")
    remaining: float = Field(description="allowed - consumed; negative once overspent")
    remaining_ratio: float | None = Field(description="remaining / allowed (null when nothing is allowed)")


class VersionSegment(BaseModel):
    """The part of the window under one version of the agreement, judged by that version's terms."""

    agreement_version: int
    op: str | None = Field(description="the version's threshold comparison (threshold indicators)")
    value: float | None = Field(description="the version's threshold: good/total are counted against it")
    target: float = Field(description="the version's target")
    timeslice_target: float | None = Field(description="the version's slice rule (timeslice budgeting)")
    in_force: list[Interval] = Field(description="the counted parts of the window under this version")
    good: float
    total: float
    allowed: float = Field(description="(1 - target) x total: this segment's share of the window's budget")


class BurnWindow(Interval):
    """One lookback of a burn tier with its counts."""

    length: str = Field(description="e.g. '1h'")
    good: float
    total: float
    burn_rate: float | None = Field(
        description="(1 - good / total) / (1 - target); 1 spends exactly the budget; null without events"
    )


class TierWorking(BaseModel):
    """A burn-rate tier: fires when both windows burn at or above its factor."""

    name: str
    severity: Literal["page", "ticket"]
    budget_share: float
    factor: float = Field(description="budget_share x window length / long window length")
    long: BurnWindow
    short: BurnWindow
    firing: bool = Field(description="long.burn_rate >= factor and short.burn_rate >= factor")


class Working(BaseModel):
    """An evaluation with its working, so that each figure can be checked by hand."""

    id: str = Field(description="the agreement's objective id")
    as_of: datetime = Field(description="the instant evaluated (UTC)")
    agreement_version: int = Field(description="the version of the agreement in force then, whose terms are applied")
    unit: Literal["events", "slices"] = Field(description="what good and total count")
    budgeting_method: str
    window: WindowWorking
    good: float
    total: float
    attainment: float | None = Field(description="good / total (null without data)")
    status: ObjectiveStatus = Field(description="the verdict as of that instant: no_data, healthy, at_risk or breached")
    excluded: list[Interval] = Field(description="maintenance intervals left out of the window and the lookbacks")
    excluded_truncated: bool = Field(description="true when more intervals were left out than are listed")
    excluded_minutes: int = Field(description="maintenance minutes left out up to the as-of minute")
    budget: BudgetWorking
    tiers: list[TierWorking]
    versions: list[VersionSegment] | None = Field(
        None,
        description="when an amendment changed the threshold or target inside the window: each version's part, "
        "counted against its own threshold; the window's good and total are their sums and its allowed budget "
        "the sum of their allowed (budget.target is then 1 - allowed / total); null when one version's terms apply",
    )


class ReplayStep(BaseModel):
    """The objective as an evaluation at `at` found it."""

    at: datetime
    status: ObjectiveStatus = Field(description="the status after this step, as the evaluator would have moved it")
    event: str | None = Field(description="the event this step would have reported (none is sent by a replay)")
    good: float
    total: float
    attainment: Figure | None
    budget_remaining_ratio: Figure | None = Field(description="share of the window's budget left at that instant")
    firing_alerts: list[str] = Field(description="burn tiers firing at that instant")
    agreement_version: int = Field(description="the version of the agreement in force at that instant (its terms)")
    target: float = Field(description="the target of that version")


class Replay(BaseModel):
    """An objective replayed over stored history, step by step; nothing is stored and no event is sent."""

    id: str = Field(description="the agreement's objective id")
    step: str = Field(description="time between evaluations, e.g. '1h'")
    steps: list[ReplayStep]
