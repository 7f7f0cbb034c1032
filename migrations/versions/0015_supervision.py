"""supervision tables (reserved revision: only the supervision work edits this file)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarm_rules',
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('limit', sa.Integer(), nullable=False),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('lock', sa.Boolean(), nullable=False),
    sa.Column('params', sa.Text(), nullable=True),
    sa.Column('updated_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_by', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_alarm_rules'))
    )
    op.create_table('alarm_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('scanned_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_state'))
    )
    # the scan checkpoint: scanners lock this row, so it must exist before the first scan
    op.bulk_insert(sa.table('alarm_state', sa.column('id', sa.Integer), sa.column('last_seq', sa.Integer)),
                   [{'id': 1, 'last_seq': 0}])
    op.create_table('alerts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=30), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('user_name', sa.String(length=60), nullable=True),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('limit', sa.Integer(), nullable=False),
    sa.Column('window_start', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_seq', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('created_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=60), nullable=True),
    sa.Column('acknowledged_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledge_note', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.String(length=60), nullable=True),
    sa.Column('closed_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('close_note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('rule', 'subject', 'bucket', name='uq_alerts_rule_subject_bucket')
    )
    op.create_index('ix_alerts_status_created', 'alerts', ['status', 'created_at'], unique=False)
    op.create_index(op.f('ix_alerts_user_id'), 'alerts', ['user_id'], unique=False)
    # an existing store: the built-in 审计员 role becomes the supervision role (new stores get it from defaults)
    op.execute(sa.text(
        "UPDATE roles SET capabilities = CASE WHEN capabilities = '' THEN 'read_alerts,manage_alarms' "
        "ELSE capabilities || ',read_alerts,manage_alarms' END "
        "WHERE code = 'auditor' AND builtin = :yes AND capabilities NOT LIKE '%read_alerts%'"
    ).bindparams(yes=True))


def downgrade() -> None:
    op.execute(sa.text("UPDATE roles SET capabilities = REPLACE(REPLACE(capabilities, ',read_alerts,manage_alarms', ''), "
                       "'read_alerts,manage_alarms', '') WHERE code = 'auditor'"))
    op.drop_index(op.f('ix_alerts_user_id'), table_name='alerts')
    op.drop_index('ix_alerts_status_created', table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alarm_state')
    op.drop_table('alarm_rules')
