"""Measurement settings, read from `MEASUREMENT_*` (and the common `SLM_*`) variables."""

from typing import Literal

from pydantic import ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from slm_shared.settings import ServiceSettings, retention_days
from slm_shared.web.row_bodies import ROW_BODIES


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEASUREMENT_", extra="ignore", populate_by_name=True)

    service_name: str = "measurement"
    port: int = 8103
    max_body_bytes: int = 16 * 1024 * 1024
    max_lateness_seconds: int = 7 * 24 * 3600
    max_future_seconds: int = 300
    evaluation_interval_seconds: float = 60.0
    # the longest the evaluation worker sleeps: it wakes when the next objective falls due and on ingestion
    evaluation_poll_seconds: float = 5.0
    evaluation_batch_size: int = 100
    # A batch that flags at most this many objectives has them evaluated in its own transaction (0: by the worker).
    ingest_evaluation_limit: int = 20
    # ... but only those not evaluated within this interval: a busy series' batches leave the rest to the worker.
    ingest_evaluation_interval_seconds: float = 1.0
    version_check_seconds: float = 5.0
    # Objective rows whose GET /v1/objectives/{id} body a process keeps while unchanged (0: built on every read).
    objective_bodies: int = ROW_BODIES
    nats_ingest: bool = True
    unknown_series: Literal["refuse", "warn"] = "refuse"
    pull_interval_seconds: float = 15.0
    pull_timeout_seconds: float = 10.0
    pull_first_lookback_seconds: int = 3600
    nats_ingest_batch: int = 64
    ticket_warning_shares: list[float] = [0.5, 0.75]
    ticket_pause_states: list[str] = [
        "awaiting_customer",
        "awaiting_info",
        "awaiting_vendor",
        "awaiting_change",
        "on_hold",
        "pending",
    ]
    # the longest the ticket clock sleeps: it wakes at the next due instant, and on commits that set a sooner one
    ticket_poll_seconds: float = 5.0
    report_trend_periods: int = 3
    report_check_seconds: float = 60.0
    minute_retention_days: float = retention_days(35.0, "minute data kept at least this long")
    ticket_retention_days: float = retention_days(400.0, "closed tickets and their events kept this long")
    report_browser: str = ""
    report_pdf_timeout_seconds: float = 60.0

    @field_validator("ingest_evaluation_limit", "ingest_evaluation_interval_seconds", "objective_bodies")
    @classmethod
    def _not_negative(cls, value: float, info: ValidationInfo) -> float:
        if value < 0:
            raise ValueError(f"MEASUREMENT_{str(info.field_name).upper()} must be 0 or more, not {value}")
        return value
