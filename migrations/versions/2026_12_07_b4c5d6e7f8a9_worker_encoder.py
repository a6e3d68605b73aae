"""the encoder variant each worker serves with, in its heartbeat

Revision ID: b4c5d6e7f8a9
Revises: a3b4c5d6e7f8
Create Date: 2026-12-07 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b4c5d6e7f8a9'
down_revision: str | Sequence[str] | None = 'a3b4c5d6e7f8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('worker_heartbeats') as batch:
        batch.add_column(sa.Column('encoder', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('worker_heartbeats') as batch:
        batch.drop_column('encoder')
