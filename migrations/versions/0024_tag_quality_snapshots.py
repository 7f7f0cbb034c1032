"""tag_quality_snapshots: the tag quality dashboard's stored figures

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-23 08:00:00

One new, empty table (a handful of rows at most): no existing row is read or rewritten, so the upgrade is
instant on any store, and it names no rebuilt table (the foreign-key check before the commit has nothing
to look at). The first full evaluation or check fills it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.db

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from kehu.setup import declare_rebuilt

    declare_rebuilt(op.get_bind(), revision, [])
    op.create_table('tag_quality_snapshots',
                    sa.Column('id', sa.String(length=32), nullable=False),
                    sa.Column('computed_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('as_of', sa.Date(), nullable=False),
                    sa.Column('trigger', sa.String(length=10), nullable=False),
                    sa.Column('actor_id', sa.String(length=32), nullable=True),
                    sa.Column('duration_ms', sa.Integer(), nullable=False),
                    sa.Column('customers', sa.Integer(), nullable=False),
                    sa.Column('tags', sa.Text(), nullable=False),
                    sa.Column('groups', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag_quality_snapshots')))


def downgrade() -> None:
    op.drop_table('tag_quality_snapshots')
