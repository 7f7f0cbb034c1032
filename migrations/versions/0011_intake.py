"""intake tables (reserved revision: only the intake work edits this file)

Collection channels (public forms and other systems), sealed submissions waiting for review,
and reviewers' corrections.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_channels',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('source_channel', sa.String(length=20), nullable=False),
    sa.Column('fields', sa.String(length=1000), nullable=False),
    sa.Column('purposes', sa.String(length=400), nullable=False),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('token_digest', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_intake_channels_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_channels')),
    sa.UniqueConstraint('code', name=op.f('uq_intake_channels_code')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_intake_channels_token_digest'))
    )
    op.create_table('intake_submissions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('dek', sa.LargeBinary(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=True),
    sa.Column('received_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('customer_id', sa.String(length=32), nullable=True),
    sa.Column('archive_no', sa.String(length=20), nullable=True),
    sa.Column('corrections', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['intake_channels.id'], name=op.f('fk_intake_submissions_channel_id_intake_channels')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_intake_submissions_customer_id_customers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_submissions'))
    )
    with op.batch_alter_table('intake_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_submissions_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index('ix_intake_submissions_status', ['status', 'received_at'], unique=False)

    op.create_table('intake_corrections',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('submission_id', sa.String(length=32), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.LargeBinary(), nullable=True),
    sa.Column('new_value', sa.LargeBinary(), nullable=True),
    sa.Column('corrected_by', sa.String(length=32), nullable=False),
    sa.Column('corrected_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['intake_submissions.id'], name=op.f('fk_intake_corrections_submission_id_intake_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_corrections'))
    )
    with op.batch_alter_table('intake_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_corrections_submission_id'), ['submission_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intake_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_corrections_submission_id'))

    op.drop_table('intake_corrections')
    with op.batch_alter_table('intake_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_submissions_status')
        batch_op.drop_index(batch_op.f('ix_intake_submissions_channel_id'))

    op.drop_table('intake_submissions')
    op.drop_table('intake_channels')
