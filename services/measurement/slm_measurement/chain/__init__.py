"""The service chain: diagnosis of an SLA objective down its supporting services, and warnings up to the SLAs."""
