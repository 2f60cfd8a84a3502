"""probes

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probes", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.String(50)))


def downgrade() -> None:
    op.drop_table("probes")
