"""customer observations and their annotations; observation terms and measured scope of each version

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 02:50:00
"""
from alembic import op
import sqlalchemy as sa
import slm_shared.db


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_terms') as batch:
        batch.add_column(sa.Column('observation_terms', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('measured_scope', sa.String(length=16), nullable=False, server_default='service'))
    with op.batch_alter_table('objectives') as batch:
        batch.add_column(sa.Column('observed', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('scope', sa.String(length=128), nullable=True))
    op.create_table(
        'observations',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('agreement_id', sa.String(length=64), nullable=False),
        sa.Column('agreement_version', sa.Integer(), nullable=False),
        sa.Column('service_key', sa.String(length=64), nullable=False),
        sa.Column('consumer_party_id', sa.String(length=64), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('summary', sa.String(length=2000), nullable=False),
        sa.Column('start', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('end', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('objective_ids', sa.JSON(), nullable=False),
        sa.Column('impact', sa.String(length=16), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=True),
        sa.Column('counts', sa.Boolean(), nullable=False),
        sa.Column('recorded_by', sa.String(length=200), nullable=False),
        sa.Column('on_behalf', sa.Boolean(), nullable=False),
        sa.Column('recorded_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', slm_shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_by', sa.String(length=200), nullable=True),
    )
    op.create_index('ix_observations_agreement', 'observations', ['tenant', 'agreement_id', 'start'])
    op.create_table(
        'observation_annotations',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('observation_id', sa.String(length=36), nullable=False),
        sa.Column('note', sa.String(length=4000), nullable=False),
        sa.Column('cause', sa.String(length=500), nullable=True),
        sa.Column('incident_ref', sa.String(length=200), nullable=True),
        sa.Column('problem_ref', sa.String(length=200), nullable=True),
        sa.Column('evidence_url', sa.String(length=2000), nullable=True),
        sa.Column('author', sa.String(length=200), nullable=False),
        sa.Column('created_at', slm_shared.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_observation_annotations_observation', 'observation_annotations', ['tenant', 'observation_id'])


def downgrade() -> None:
    op.drop_index('ix_observation_annotations_observation', table_name='observation_annotations')
    op.drop_table('observation_annotations')
    op.drop_index('ix_observations_agreement', table_name='observations')
    op.drop_table('observations')
    with op.batch_alter_table('objectives') as batch:
        batch.drop_column('scope')
        batch.drop_column('observed')
    with op.batch_alter_table('agreement_terms') as batch:
        batch.drop_column('measured_scope')
        batch.drop_column('observation_terms')
