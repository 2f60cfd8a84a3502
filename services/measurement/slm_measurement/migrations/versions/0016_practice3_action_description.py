"""improvement actions read model: the description, and a platform-written one's message key and parameters

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 08:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch.add_column(sa.Column('description_key', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('description_params', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.drop_column('description_params')
        batch.drop_column('description_key')
        batch.drop_column('description')
