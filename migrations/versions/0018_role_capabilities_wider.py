"""roles.capabilities wide enough for every capability of the packages

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22 18:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths, and rebuilding `roles` (batch mode) would fail on the
    # users/grants foreign keys of a populated store: only PostgreSQL needs the change.
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column('roles', 'capabilities', existing_type=sa.String(length=200), type_=sa.String(length=1000),
                    existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column('roles', 'capabilities', existing_type=sa.String(length=1000), type_=sa.String(length=200),
                    existing_nullable=False)
