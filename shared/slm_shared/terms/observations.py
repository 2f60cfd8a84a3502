"""Customer observations as a term: how what the customer observed counts, and which scope an SLA measures.

An agreement's `observation_terms` say whether an observation counts in the figures (`counts_as`
`bad_time`) and which kinds count. A counted observation makes the span it names bad time for the
objectives it affects, for that agreement only, until the customer withdraws it. Without terms an
observation is recorded and shown, never counted. `measured_scope` says what the objectives measure:
`service` (every scope of the series summed) or `customer` (only the scope named after the consumer party).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from slm_shared.contracts.payloads import MeasuredScope, ObservationKind, ObservationTermsV1

__all__ = ["MeasuredScope", "ObservationKind", "ObservationTerms", "counts", "scope_measured"]


def _unavailable_only() -> list[ObservationKind]:
    return ["unavailable"]


class ObservationTerms(ObservationTermsV1):
    """How observations count, as an agreement states it."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[ObservationKind] = Field(
        default_factory=_unavailable_only, min_length=1, max_length=5, description="the kinds that count"
    )

    @field_validator("kinds")
    @classmethod
    def _distinct(cls, value: list[ObservationKind]) -> list[ObservationKind]:
        if len(set(value)) != len(value):
            raise ValueError("each kind at most once")
        return value


def counts(terms: ObservationTermsV1 | dict[str, object] | None, kind: str) -> bool:
    """Whether an observation of this kind counts in the figures under these terms."""
    if terms is None:
        return False
    parsed = terms if isinstance(terms, ObservationTermsV1) else ObservationTermsV1.model_validate(terms)
    return parsed.counts_as == "bad_time" and kind in parsed.kinds


def scope_measured(measured_scope: str | None, consumer_party_id: str | None) -> str | None:
    """The series scope an agreement's objectives read: None (every scope summed) or the consumer's own."""
    if measured_scope == "customer":
        return consumer_party_id or ""
    return None
