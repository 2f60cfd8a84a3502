"""Escalation: breaches told to contacts, acknowledged, or escalated level by level."""
