"""Agreements service: parties and the SLA / OLA / UC lifecycle built on catalogue offerings."""
