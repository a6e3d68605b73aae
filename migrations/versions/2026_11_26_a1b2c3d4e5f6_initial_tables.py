"""initial tables

Revision ID: a1b2c3d4e5f6
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'a1b2c3d4e5f6'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('embeddings',
    sa.Column('encoder_name', sa.String(length=300), nullable=False),
    sa.Column('encoder_revision', sa.String(length=64), nullable=False),
    sa.Column('text_sha256', sa.String(length=64), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('encoder_name', 'encoder_revision', 'text_sha256', name=op.f('pk_embeddings'))
    )
    op.create_table('model_versions',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('training_data_sha256', sa.String(length=64), nullable=False),
    sa.Column('encoder_name', sa.String(length=300), nullable=False),
    sa.Column('encoder_revision', sa.String(length=64), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('artifact', sa.LargeBinary(), nullable=False),
    sa.Column('artifact_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("status IN ('serving', 'candidate', 'retired')", name=op.f('ck_model_versions_status_known')),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_model_versions'))
    )
    op.create_index('uq_model_versions_one_serving', 'model_versions', ['status'], unique=True, postgresql_where=sa.text("status = 'serving'"), sqlite_where=sa.text("status = 'serving'"))
    op.create_table('submissions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('resume_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('submitted_by', sa.String(length=200), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'processing', 'done', 'failed')", name=op.f('ck_submissions_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_submissions_idempotency_key'))
    )
    op.create_index(op.f('ix_submissions_external_id'), 'submissions', ['external_id'], unique=False)
    op.create_index(op.f('ix_submissions_resume_sha256'), 'submissions', ['resume_sha256'], unique=False)
    op.create_index('ix_submissions_status_created', 'submissions', ['status', 'created_at'], unique=False)
    op.create_table('verdicts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.Uuid(), nullable=False),
    sa.Column('p_risk', sa.Float(), nullable=False),
    sa.Column('trust_score', sa.Float(), nullable=False),
    sa.Column('risk_level', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('encoder_name', sa.String(length=300), nullable=False),
    sa.Column('encoder_revision', sa.String(length=64), nullable=False),
    sa.Column('input_sha256', sa.String(length=64), nullable=False),
    sa.Column('indicators', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('worker_host', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('p_risk >= 0 AND p_risk <= 1', name=op.f('ck_verdicts_p_risk_range')),
    sa.CheckConstraint('trust_score >= 0 AND trust_score <= 100', name=op.f('ck_verdicts_score_range')),
    sa.ForeignKeyConstraint(['model_version'], ['model_versions.version'], name=op.f('fk_verdicts_model_version_model_versions')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_verdicts_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verdicts')),
    sa.UniqueConstraint('submission_id', 'model_version', name='uq_verdicts_submission_model')
    )
    op.create_index(op.f('ix_verdicts_created_at'), 'verdicts', ['created_at'], unique=False)
    op.create_index('ix_verdicts_risk_created', 'verdicts', ['risk_level', 'created_at'], unique=False)
    op.create_index(op.f('ix_verdicts_submission_id'), 'verdicts', ['submission_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_verdicts_submission_id'), table_name='verdicts')
    op.drop_index('ix_verdicts_risk_created', table_name='verdicts')
    op.drop_index(op.f('ix_verdicts_created_at'), table_name='verdicts')
    op.drop_table('verdicts')
    op.drop_index('ix_submissions_status_created', table_name='submissions')
    op.drop_index(op.f('ix_submissions_resume_sha256'), table_name='submissions')
    op.drop_index(op.f('ix_submissions_external_id'), table_name='submissions')
    op.drop_table('submissions')
    op.drop_index('uq_model_versions_one_serving', table_name='model_versions', postgresql_where=sa.text("status = 'serving'"), sqlite_where=sa.text("status = 'serving'"))
    op.drop_table('model_versions')
    op.drop_table('embeddings')
