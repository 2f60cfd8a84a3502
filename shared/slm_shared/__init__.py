"""Contracts and plumbing shared by the service level management services."""
