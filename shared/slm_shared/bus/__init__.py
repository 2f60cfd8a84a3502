"""NATS JetStream plumbing: connection, streams, transactional outbox, idempotent inbox."""

from slm_shared.bus.connection import Bus
from slm_shared.bus.handlers import chain_handlers
from slm_shared.bus.inbox import Consumer, Handler
from slm_shared.bus.models import DeadLetter, InboxMessage, OutboxMessage
from slm_shared.bus.outbox import OutboxRelay
from slm_shared.bus.record import carried_tenant, record_event, tenant_carried

__all__ = [
    "Bus",
    "Consumer",
    "DeadLetter",
    "Handler",
    "InboxMessage",
    "OutboxMessage",
    "OutboxRelay",
    "carried_tenant",
    "chain_handlers",
    "record_event",
    "tenant_carried",
]
