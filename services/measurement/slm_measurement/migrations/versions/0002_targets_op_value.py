"""Targets in the one shape: objectives' `objective`/`comparison`/`threshold` become `target`/`op`/`value`.

Measurement read `comparison` as "attainment vs objective", but the stored value came from the
agreement, where it meant "value vs threshold": it becomes `op` for threshold indicators, and every
objective is judged as at least `target` of good events. Threshold objectives count good/total
exactly from this upgrade on (see `slm_measurement.thresholds`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from slm_shared.migrations_targets import rename_target_columns

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rename_target_columns("objectives")


def downgrade() -> None:
    raise NotImplementedError("targets are not converted back to the version-1 shape")
