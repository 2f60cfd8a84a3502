"""improvement actions: a platform-written title as message key and parameters; the change's reference,
tool and when its status was last observed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.add_column(sa.Column('title_key', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('title_params', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('change_ref', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('change_system', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('change_status_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('improvement_actions') as batch:
        batch.drop_column('change_status_at')
        batch.drop_column('change_system')
        batch.drop_column('change_ref')
        batch.drop_column('title_params')
        batch.drop_column('title_key')
