"""flags, rules, reasons, labels, resume files

Revision ID: b7e1c2d3f4a5
Revises: a1b2c3d4e5f6
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'b7e1c2d3f4a5'
down_revision: str | Sequence[str] | None = 'a1b2c3d4e5f6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('labels',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.Uuid(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("label IN ('risky', 'trustworthy')", name=op.f('ck_labels_label_known')),
    sa.CheckConstraint("source IN ('review', 'chargeback', 'dispute', 'manual')", name=op.f('ck_labels_source_known')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_labels_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labels'))
    )
    op.create_index(op.f('ix_labels_created_at'), 'labels', ['created_at'], unique=False)
    op.create_index('ix_labels_submission_created', 'labels', ['submission_id', 'created_at'], unique=False)
    op.create_table('resume_bands',
    sa.Column('band', sa.String(length=64), nullable=False),
    sa.Column('submission_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_resume_bands_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('band', 'submission_id', name=op.f('pk_resume_bands'))
    )
    op.create_index(op.f('ix_resume_bands_submission_id'), 'resume_bands', ['submission_id'], unique=False)
    op.add_column('submissions', sa.Column('resume_file', sa.LargeBinary(), nullable=True))
    op.add_column('submissions', sa.Column('resume_filename', sa.String(length=300), nullable=True))
    op.add_column('submissions', sa.Column('resume_minhash', sa.LargeBinary(), nullable=True))
    # Verdicts written before rules existed: the model's level was final, nothing fired.
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
    op.add_column('verdicts', sa.Column('model_risk_level', sa.String(length=16), nullable=False, server_default='MEDIUM'))
    op.add_column('verdicts', sa.Column('recommendation', sa.String(length=16), nullable=False, server_default='review'))
    op.add_column('verdicts', sa.Column('flags', json_type, nullable=False, server_default='[]'))
    op.add_column('verdicts', sa.Column('rule_hits', json_type, nullable=False, server_default='[]'))
    op.add_column('verdicts', sa.Column('reasons', json_type, nullable=False, server_default='[]'))
    op.execute(
        "UPDATE verdicts SET model_risk_level = risk_level, recommendation = CASE risk_level "
        "WHEN 'LOW' THEN 'trustworthy' WHEN 'HIGH' THEN 'risky' ELSE 'review' END"
    )

def downgrade() -> None:
    op.drop_column('verdicts', 'reasons')
    op.drop_column('verdicts', 'rule_hits')
    op.drop_column('verdicts', 'flags')
    op.drop_column('verdicts', 'recommendation')
    op.drop_column('verdicts', 'model_risk_level')
    op.drop_column('submissions', 'resume_minhash')
    op.drop_column('submissions', 'resume_filename')
    op.drop_column('submissions', 'resume_file')
    op.drop_index(op.f('ix_resume_bands_submission_id'), table_name='resume_bands')
    op.drop_table('resume_bands')
    op.drop_index('ix_labels_submission_created', table_name='labels')
    op.drop_index(op.f('ix_labels_created_at'), table_name='labels')
    op.drop_table('labels')
