"""Measurement API models (the ingest path decodes with msgspec, see ingest.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slm_measurement.figures import Figure

ObjectiveStatus = Literal["healthy", "at_risk", "breached", "recovered", "no_data"]
Granularity = Literal["minute", "hour", "day"]
Duration = str


class IngestAccepted(BaseModel):
    """How many points of the batch were stored."""

    accepted: int
    warnings: list[str] = Field(
        default_factory=list, description="series the catalogue does not know (MEASUREMENT_UNKNOWN_SERIES=warn)"
    )


class Window(BaseModel):
    kind: Literal["rolling", "calendar"]
    duration: str | None = None
    unit: Literal["week", "month", "quarter"] | None = None
    timezone: str = "UTC"


class Budget(BaseModel):
    """Error budget as shares of the window's events (or slices)."""

    total: Figure = Field(description="allowed share of bad events: 1 - target")
    consumed: Figure = Field(description="share of bad events so far")
    remaining: Figure = Field(description="total - consumed; negative once overspent")
    remaining_ratio: Figure | None = Field(description="share of the budget still left")


class BurnRate(BaseModel):
    lookback: str = Field(description="e.g. '1h'")
    burn_rate: Figure | None = Field(description="bad share / budget over the lookback; 1 spends exactly the budget")


class BurnAlertState(BaseModel):
    """A multi-window burn-rate tier at the latest evaluation."""

    name: str
    severity: Literal["page", "ticket"]
    budget_share: float
    long_window: str
    short_window: str
    factor: Figure = Field(description="budget_share * period / long_window")
    long_burn: Figure | None
    short_burn: Figure | None
    firing: bool


class ForecastPublic(BaseModel):
    """The outlook at the burn over `lookback`."""

    lookback: str
    horizon_end: datetime
    expected_attainment: Figure | None
    budget_exhausted_at: datetime | None = Field(description="when the budget runs out within the horizon, if it does")
    misses_target: bool


class ObjectivePublic(BaseModel):
    """An agreement's objective with its latest evaluation."""

    id: str = Field(description="the agreement's objective id: the same in events, reports and every service")
    agreement_id: str
    agreement_version: int
    agreement_kind: str
    objective_id: str = Field(description="the same as `id` (kept for clients of the first shape)")
    name: str | None
    service_key: str
    indicator: str
    indicator_kind: str
    target: float = Field(description="the least share of good events (or slices)")
    op: Literal["lt", "lte", "gt", "gte"] | None = Field(
        description="threshold indicators: good values are `op` `value`"
    )
    value: float | None = Field(description="threshold indicators: the threshold")
    window: Window
    budgeting_method: str
    timeslice_seconds: int | None
    timeslice_target: float | None
    consumer_party_id: str | None
    active: bool
    ended: bool
    status: ObjectiveStatus
    attainment: Figure | None
    unit: Literal["events", "slices"] = Field(description="what good and total count")
    good: float
    total: float
    window_start: datetime | None
    window_end: datetime | None
    budget: Budget
    budget_target: float | None = Field(
        None,
        description="when an amendment changed the target or threshold inside the window: the target its budget is "
        "judged against, 1 - sum((1 - target_v) x total_v) / sum(total_v) over the versions' segments "
        "(see /working); null when one version's terms judge the whole window",
    )
    burn_rates: list[BurnRate]
    alerts: list[BurnAlertState]
    firing_alerts: list[str]
    forecasts: list[ForecastPublic]
    excluded_minutes: int = Field(description="maintenance minutes left out of the window and lookbacks")
    customer_observed_minutes: int = Field(
        0, description="minutes of the window counted bad because the customer observed them (observation terms)"
    )
    scope: str | None = Field(None, description="the series scope measured (the customer's party); null: every scope")
    evaluated_at: datetime | None
    at_risk: Literal["any_forecast", "all_forecasts"] = Field(
        "any_forecast", description="which forecasts must miss for at_risk"
    )
    budget_exhausted_at: datetime | None = Field(
        None, description="when a forecast that misses expects the error budget to run out"
    )


class TransitionPublic(BaseModel):
    """One change of an objective's status."""

    at: datetime
    from_status: ObjectiveStatus
    to_status: ObjectiveStatus
    event: str | None = Field(description="the event reported for it, if any")
    attainment: float | None
    expected_attainment: Figure | None


class BurnTierIn(BaseModel):
    """A burn-rate tier: alert when `budget_share` of the budget would go within `long_window`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64)
    severity: Literal["page", "ticket"]
    budget_share: float = Field(gt=0, le=1)
    long_window: Duration = Field(pattern=r"^[1-9]\d{0,4}[mhdw]$", description="a positive length, e.g. 1h")
    short_window: Duration = Field(pattern=r"^[1-9]\d{0,4}[mhdw]$", description="a positive length, e.g. 5m")


class ObjectivePolicy(BaseModel):
    """Per-objective alerting and forecasting; null restores the default."""

    model_config = ConfigDict(extra="forbid")

    alert_policy: list[BurnTierIn] | None = Field(None, max_length=10, description="null: the SRE workbook default")
    forecast_lookbacks: list[Duration] | None = Field(None, min_length=1, max_length=5, description="null: 1h and 24h")
    at_risk: Literal["any_forecast", "all_forecasts"] | None = Field(
        None, description="which forecasts must miss for at_risk; null: any_forecast (one is enough)"
    )


class BurnRateAt(BaseModel):
    """Burn rate over an arbitrary lookback ending now (or at the instant asked for)."""

    lookback: str
    start: datetime | None = Field(None, description="the lookback's start (UTC)")
    end: datetime | None = Field(None, description="its end, excluded: the end of the as-of minute (UTC)")
    good: float
    total: float
    burn_rate: Figure | None = Field(description="(1 - good / total) / (1 - target); null without events")


class SeriesBucket(BaseModel):
    """One bucket of a series: counts, or for values the sample count and percentiles."""

    start: datetime
    good: float | None = None
    total: float
    ratio: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


class SeriesPublic(BaseModel):
    service: str
    indicator: str
    scope: str | None
    kind: Literal["counts", "values"]
    granularity: Granularity
    threshold: float | None
    buckets: list[SeriesBucket]
