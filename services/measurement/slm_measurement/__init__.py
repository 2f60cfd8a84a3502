"""Measurement service: delivered service levels, rollups and objective evaluation."""
