"""labels record their API key; keys carry a daily label cap and a training exclusion;
idempotency keys are unique per submitter; a submission keeps its caller's request id

Revision ID: d9e8f7a6b5c4
Revises: 86b063e7c798
Create Date: 2026-12-02 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd9e8f7a6b5c4'
down_revision: str | Sequence[str] | None = '86b063e7c798'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('labels', sa.Column('api_key', sa.String(length=200), nullable=True))
    op.add_column(
        'submissions', sa.Column('client_request_id', sa.String(length=200), nullable=True)
    )
    op.add_column('api_keys', sa.Column('labels_per_day', sa.Integer(), nullable=True))
    op.add_column(
        'api_keys',
        sa.Column('labels_excluded', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    with op.batch_alter_table('submissions') as batch:
        batch.drop_constraint('uq_submissions_idempotency_key', type_='unique')
        batch.create_unique_constraint(
            'uq_submissions_submitter_idempotency_key', ['submitted_by', 'idempotency_key']
        )


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_constraint('uq_submissions_submitter_idempotency_key', type_='unique')
        batch.create_unique_constraint('uq_submissions_idempotency_key', ['idempotency_key'])
    op.drop_column('api_keys', 'labels_excluded')
    op.drop_column('api_keys', 'labels_per_day')
    op.drop_column('submissions', 'client_request_id')
    op.drop_column('labels', 'api_key')
