"""OpenSLO documents (v1 and v1alpha) as validated models; unknown fields are kept, not refused.

Each model checks what the mapping onto the catalogue reads. The documents themselves are stored as
given, so exporting what was imported gives the same documents back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

API_VERSIONS = ("openslo/v1", "openslo/v1alpha")
V1_KINDS = ("Service", "SLI", "SLO", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")
V1ALPHA_KINDS = ("Service", "SLO")
EXTENSION_KINDS = ("BudgetAdjustment",)
Name = str


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Metadata(Open):
    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    displayName: str | None = Field(None, max_length=200)
    labels: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None


class Document(Open):
    apiVersion: Literal["openslo/v1", "openslo/v1alpha"]
    kind: str
    metadata: Metadata
    spec: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_kind(self) -> Document:
        kinds = (V1_KINDS if self.apiVersion == "openslo/v1" else V1ALPHA_KINDS) + EXTENSION_KINDS
        if self.kind not in kinds:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(kinds)} in {self.apiVersion}")
        return self


# --- v1 ---------------------------------------------------------------------------------------


class MetricSource(Open):
    metricSourceRef: str | None = None
    type: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)


class Metric(Open):
    metricSource: MetricSource


class RatioMetric(Open):
    counter: bool | None = None
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric | None = None
    rawType: Literal["success", "failure"] | None = None
    raw: Metric | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RatioMetric:
        if self.raw is not None:
            if self.rawType is None:
                raise ValueError("a raw ratio needs rawType (success or failure)")
            return self
        if self.total is None:
            raise ValueError("a ratio needs total with good or bad (or raw with rawType)")
        if (self.good is None) == (self.bad is None):
            raise ValueError("a ratio needs exactly one of good and bad")
        return self


class SLISpec(Open):
    description: str | None = Field(None, max_length=1050)
    thresholdMetric: Metric | None = None
    ratioMetric: RatioMetric | None = None

    @model_validator(mode="after")
    def _one_metric(self) -> SLISpec:
        if (self.thresholdMetric is None) == (self.ratioMetric is None):
            raise ValueError("an SLI has exactly one of thresholdMetric and ratioMetric")
        return self


class InlineSLI(Open):
    metadata: Metadata
    spec: SLISpec


class Calendar(Open):
    startTime: str
    timeZone: str


class TimeWindowV1(Open):
    duration: str = Field(pattern=r"^[1-9][0-9]*[mhdwMQY]$")
    isRolling: bool | None = None
    calendar: Calendar | None = None


class ObjectiveV1(Open):
    displayName: str | None = None
    op: Literal["lt", "lte", "gt", "gte"] | None = None
    value: float | None = None
    target: float | None = Field(None, gt=0, le=1)
    targetPercent: float | None = Field(None, gt=0, le=100)
    timeSliceTarget: float | None = Field(None, gt=0, le=1)
    timeSliceWindow: str | None = Field(None, pattern=r"^[1-9][0-9]*[smh]$")
    indicator: InlineSLI | None = None
    indicatorRef: str | None = None
    compositeWeight: float | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ObjectiveV1:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("an objective has exactly one of target and targetPercent")
        return self


class SLOSpecV1(Open):
    description: str | None = Field(None, max_length=1050)
    service: str
    indicator: InlineSLI | None = None
    indicatorRef: str | None = None
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    timeWindow: list[TimeWindowV1] = Field(min_length=1, max_length=1)
    objectives: list[ObjectiveV1] = Field(min_length=1, max_length=100)
    alertPolicies: list[dict[str, Any]] = Field(default_factory=list)


class DataSourceSpec(Open):
    type: str = Field(min_length=1)
    connectionDetails: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None


class AlertConditionSpec(Open):
    severity: str
    condition: dict[str, Any]


class AlertPolicySpec(Open):
    conditions: list[dict[str, Any]] = Field(min_length=1)
    notificationTargets: list[dict[str, Any]] = Field(default_factory=list)


class NotificationTargetSpec(Open):
    target: str


class ServiceSpec(Open):
    description: str | None = Field(None, max_length=1050)


class BudgetAdjustmentSpec(Open):
    """The maintenance-window extension: time that does not count against the budget."""

    description: str | None = Field(None, max_length=500)
    firstEvent: str
    duration: str = Field(pattern=r"^[1-9][0-9]*[mhd]$")
    rrule: str | None = None
    sloRefs: list[str] = Field(default_factory=list)


# --- v1alpha ----------------------------------------------------------------------------------


class AlphaQuery(Open):
    source: str
    queryType: str
    query: str


class AlphaIndicator(Open):
    thresholdMetric: AlphaQuery


class AlphaRatio(Open):
    good: AlphaQuery
    total: AlphaQuery
    incremental: bool


class AlphaTimeWindow(Open):
    unit: Literal["Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"]
    count: int = Field(ge=1)
    isRolling: bool
    calendar: Calendar | None = None


class AlphaObjective(Open):
    displayName: str | None = None
    op: Literal["lt", "lte", "gt", "gte"] | None = None
    value: float | None = None
    target: float = Field(gt=0, le=1)
    timeSliceTarget: float | None = Field(None, gt=0, le=1)
    ratioMetrics: AlphaRatio | None = None


class SLOSpecV1Alpha(Open):
    description: str | None = None
    service: str
    indicator: AlphaIndicator | None = None
    timeWindows: list[AlphaTimeWindow] = Field(min_length=1, max_length=1)
    budgetingMethod: Literal["Occurrences", "Timeslices"]
    objectives: list[AlphaObjective] = Field(min_length=1, max_length=100)


SPECS: dict[tuple[str, str], type[BaseModel]] = {
    ("openslo/v1", "Service"): ServiceSpec,
    ("openslo/v1", "SLI"): SLISpec,
    ("openslo/v1", "SLO"): SLOSpecV1,
    ("openslo/v1", "DataSource"): DataSourceSpec,
    ("openslo/v1", "AlertPolicy"): AlertPolicySpec,
    ("openslo/v1", "AlertCondition"): AlertConditionSpec,
    ("openslo/v1", "AlertNotificationTarget"): NotificationTargetSpec,
    ("openslo/v1", "BudgetAdjustment"): BudgetAdjustmentSpec,
    ("openslo/v1alpha", "Service"): ServiceSpec,
    ("openslo/v1alpha", "SLO"): SLOSpecV1Alpha,
    ("openslo/v1alpha", "BudgetAdjustment"): BudgetAdjustmentSpec,
}
