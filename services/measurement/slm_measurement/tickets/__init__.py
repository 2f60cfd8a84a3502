"""Ticket SLAs: lifecycle events, response and resolution clocks in business time, compliance."""
