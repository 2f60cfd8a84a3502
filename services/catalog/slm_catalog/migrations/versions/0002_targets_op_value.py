"""Targets in the one shape: `objective`/`comparison`/`threshold` become `target`/`op`/`value`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from slm_shared.migrations import upgrade_json_targets

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The catalogue read `comparison` as "value vs threshold": it becomes `op` unchanged in meaning.
    upgrade_json_targets("offerings", "id", "targets")


def downgrade() -> None:
    raise NotImplementedError("targets are not converted back to the version-1 shape")
