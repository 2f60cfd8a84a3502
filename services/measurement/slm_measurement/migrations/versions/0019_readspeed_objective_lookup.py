"""objectives: an index on (tenant, objective_id), the key `GET /v1/objectives/{id}` reads by

Without it the read searched by tenant alone and sorted every objective of the tenant.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 09:05:00
"""

from alembic import op


revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_objectives_lookup", "objectives", ["tenant", "objective_id"])


def downgrade() -> None:
    op.drop_index("ix_objectives_lookup", table_name="objectives")
