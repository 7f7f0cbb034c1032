"""known_capabilities: the capabilities a store has met, so built-in roles get each new one once

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.db

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # filled by kehu.access.service.sync_builtin_capabilities (bootstrap, on every `kehu init`)
    op.create_table('known_capabilities',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('recorded_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_known_capabilities'))
    )


def downgrade() -> None:
    op.drop_table('known_capabilities')
