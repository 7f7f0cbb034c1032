"""flow: order attachments (reserved revision: only the flow work edits this file)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('order_attachments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_attachments_order_id_orders'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_attachments'))
    )
    with op.batch_alter_table('order_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_attachments_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('order_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_attachments_order_id'))
    op.drop_table('order_attachments')
