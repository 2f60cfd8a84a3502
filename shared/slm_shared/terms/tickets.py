"""Ticket targets as a term: response and resolution goals per priority, one model for every service."""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from slm_shared.contracts.payloads import TicketTargetV1

MAX_GOAL_SECONDS = 365 * 86400


class TicketTarget(TicketTargetV1):
    """Response and resolution goals for tickets of one priority, in business seconds."""

    model_config = ConfigDict(extra="forbid")

    response_seconds: int | None = Field(None, gt=0, le=MAX_GOAL_SECONDS, description="business seconds to respond")
    resolution_seconds: int | None = Field(None, gt=0, le=MAX_GOAL_SECONDS, description="business seconds to resolve")

    @model_validator(mode="after")
    def _response_before_resolution(self) -> TicketTarget:
        if self.response_seconds is None and self.resolution_seconds is None:
            raise ValueError("give a response time, a resolution time or both")
        if self.response_seconds and self.resolution_seconds and self.response_seconds > self.resolution_seconds:
            raise ValueError("the response time cannot be longer than the resolution time")
        return self


def priority_problem(targets: list[TicketTarget] | None) -> str | None:
    """Why a list of ticket targets does not fit together (a priority twice), or None."""
    if targets is not None and len({t.priority for t in targets}) != len(targets):
        return "one ticket target per priority"
    return None
