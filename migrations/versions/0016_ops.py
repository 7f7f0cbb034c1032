"""ops tables (reserved revision: only the ops work edits this file)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_key_rotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("new_key", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=True),
        sa.Column("started_at", kehu.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", kehu.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_key_rotations")),
    )


def downgrade() -> None:
    op.drop_table("ops_key_rotations")
