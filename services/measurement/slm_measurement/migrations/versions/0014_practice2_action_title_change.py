"""improvement actions read model: a platform-written title's message key and parameters; the change's status
and reference from the ITSM tool

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 05:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.add_column(sa.Column('title_key', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('title_params', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('change_status', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('change_ref', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.drop_column('change_ref')
        batch.drop_column('change_status')
        batch.drop_column('title_params')
        batch.drop_column('title_key')
