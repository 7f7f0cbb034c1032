"""exports tables (reserved revision: only the exports work edits this file)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('requested_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('format', sa.String(length=4), nullable=False),
    sa.Column('use', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('plaintext', sa.Text(), nullable=True),
    sa.Column('criteria', sa.Text(), nullable=False),
    sa.Column('q_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('q_key', sa.LargeBinary(), nullable=True),
    sa.Column('approval_id', sa.String(length=32), nullable=True),
    sa.Column('row_count', sa.Integer(), nullable=True),
    sa.Column('excluded', sa.Integer(), nullable=True),
    sa.Column('finished_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['approval_id'], ['approvals.id'], name=op.f('fk_exports_approval_id_approvals')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_exports_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exports'))
    )
    op.create_index('ix_exports_requester', 'exports', ['requested_by', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_exports_requester', table_name='exports')
    op.drop_table('exports')
