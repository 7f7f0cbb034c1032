"""segment_names_per_owner: a segment's name is unique among its owner's segments, not across all users

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-23 20:00:00

Segments are private to their owner, yet their names were unique across the store: a second salesperson
could not call a segment 「重点客户」 once anybody had, and the refusal told them that somebody had. The
unique constraint on `name` becomes a unique index on (owner_id, name). On SQLite the small table is copied
(batch mode); no row changes.
"""
from __future__ import annotations

from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from kehu.setup import declare_rebuilt

    declare_rebuilt(op.get_bind(), revision, ["segments"])
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_constraint('uq_segments_name', type_='unique')
        batch_op.create_index('uq_segments_owner_name', ['owner_id', 'name'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index('uq_segments_owner_name')
        batch_op.create_unique_constraint('uq_segments_name', ['name'])
