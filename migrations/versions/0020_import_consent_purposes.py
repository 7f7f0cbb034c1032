"""imports: consent purpose codes and the guardian-consent declaration on import jobs

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # jobs started before this revision declared no purpose codes: they must be uploaded again to commit
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('basis_purposes', sa.String(length=400), server_default='', nullable=False))
        batch_op.add_column(sa.Column('basis_guardian_consent', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('basis_guardian_consent')
        batch_op.drop_column('basis_purposes')
