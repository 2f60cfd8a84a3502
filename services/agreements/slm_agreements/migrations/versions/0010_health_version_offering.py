"""agreement versions: the offering each version is based on (the agreement keeps the one of the version in force)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 08:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreement_versions") as batch:
        batch.add_column(sa.Column("offering_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("offering_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("standard_targets", sa.JSON(), nullable=True))
    # Until now only the agreement recorded an offering: every stored version is taken to be based on it.
    for name in ("offering_id", "offering_version", "standard_targets"):
        op.execute(
            f"UPDATE agreement_versions SET {name} = (SELECT a.{name} FROM agreements a"
            " WHERE a.id = agreement_versions.agreement_id AND a.tenant = agreement_versions.tenant)"
        )
    op.execute("UPDATE agreement_versions SET standard_targets = '[]' WHERE standard_targets IS NULL")
    with op.batch_alter_table("agreement_versions") as batch:
        batch.alter_column("standard_targets", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("agreement_versions") as batch:
        batch.drop_column("standard_targets")
        batch.drop_column("offering_version")
        batch.drop_column("offering_id")
