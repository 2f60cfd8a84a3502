"""Event contracts: the CloudEvents envelope and every event type with its payload."""

from slm_shared.contracts.envelope import CloudEvent, EventSpec
from slm_shared.contracts.registry import EVENTS, STREAMS, StreamSpec, spec_for_type

__all__ = ["EVENTS", "STREAMS", "CloudEvent", "EventSpec", "StreamSpec", "spec_for_type"]
