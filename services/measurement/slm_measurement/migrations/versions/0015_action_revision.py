"""improvement actions read model: the revision last applied, so an older event changes nothing

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 07:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.add_column(sa.Column('revision', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.drop_column('revision')
