"""Notifier service: tells subscribers what matters, signed, retried and logged."""
