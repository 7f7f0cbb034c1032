"""privacy tables: working-day calendar (seeded with 2026), rights requests, legal holds, destructions

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import datetime

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

#: 国务院办公厅关于2026年部分节假日安排的通知 (as packaged by chinesecalendar 1.11.0); later years are
#: entered by an administrator (`kehu rights calendar set …`, docs/privacy.md) when each notice is published
SEED_2026 = [
    ('2026-01-01', 'holiday', '元旦'),
    ('2026-01-02', 'holiday', '元旦'),
    ('2026-01-03', 'holiday', '元旦'),
    ('2026-01-04', 'workday', '元旦'),
    ('2026-02-14', 'workday', '春节'),
    ('2026-02-15', 'holiday', '春节'),
    ('2026-02-16', 'holiday', '春节'),
    ('2026-02-17', 'holiday', '春节'),
    ('2026-02-18', 'holiday', '春节'),
    ('2026-02-19', 'holiday', '春节'),
    ('2026-02-20', 'holiday', '春节'),
    ('2026-02-21', 'holiday', '春节'),
    ('2026-02-22', 'holiday', '春节'),
    ('2026-02-23', 'holiday', '春节'),
    ('2026-02-28', 'workday', '春节'),
    ('2026-04-04', 'holiday', '清明节'),
    ('2026-04-05', 'holiday', '清明节'),
    ('2026-04-06', 'holiday', '清明节'),
    ('2026-05-01', 'holiday', '劳动节'),
    ('2026-05-02', 'holiday', '劳动节'),
    ('2026-05-03', 'holiday', '劳动节'),
    ('2026-05-04', 'holiday', '劳动节'),
    ('2026-05-05', 'holiday', '劳动节'),
    ('2026-05-09', 'workday', '劳动节'),
    ('2026-06-19', 'holiday', '端午节'),
    ('2026-06-20', 'holiday', '端午节'),
    ('2026-06-21', 'holiday', '端午节'),
    ('2026-09-20', 'workday', '国庆节'),
    ('2026-09-25', 'holiday', '中秋节'),
    ('2026-09-26', 'holiday', '中秋节'),
    ('2026-09-27', 'holiday', '中秋节'),
    ('2026-10-01', 'holiday', '国庆节'),
    ('2026-10-02', 'holiday', '国庆节'),
    ('2026-10-03', 'holiday', '国庆节'),
    ('2026-10-04', 'holiday', '国庆节'),
    ('2026-10-05', 'holiday', '国庆节'),
    ('2026-10-06', 'holiday', '国庆节'),
    ('2026-10-07', 'holiday', '国庆节'),
    ('2026-10-10', 'workday', '国庆节'),
]


def upgrade() -> None:
    op.create_table('privacy_calendar',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('note', sa.String(length=60), nullable=True),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_privacy_calendar'))
    )
    op.create_table('privacy_legal_holds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('customer_no', sa.String(length=20), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by', sa.String(length=32), nullable=False),
    sa.Column('placed_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lifted_by', sa.String(length=32), nullable=True),
    sa.Column('lifted_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lift_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_legal_holds'))
    )
    op.create_index(op.f('ix_privacy_legal_holds_customer_no'), 'privacy_legal_holds', ['customer_no'], unique=False)
    op.create_table('privacy_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('request_no', sa.String(length=20), nullable=False),
    sa.Column('customer_no', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('verify_method', sa.String(length=20), nullable=True),
    sa.Column('verified_by', sa.String(length=32), nullable=True),
    sa.Column('verified_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handler_id', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.Column('closed_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_requests')),
    sa.UniqueConstraint('request_no', name=op.f('uq_privacy_requests_request_no'))
    )
    op.create_index(op.f('ix_privacy_requests_customer_no'), 'privacy_requests', ['customer_no'], unique=False)
    op.create_index('ix_privacy_requests_status', 'privacy_requests', ['status', 'due_on'], unique=False)
    op.create_table('privacy_destructions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('customer_nos', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=True),
    sa.Column('approval_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('method', sa.String(length=60), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.String(length=32), nullable=False),
    sa.Column('requested_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=32), nullable=True),
    sa.Column('decided_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('executed_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['privacy_requests.id'], name=op.f('fk_privacy_destructions_request_id_privacy_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_destructions'))
    )
    op.create_table('privacy_shares',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('customer_nos', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.String(length=20), nullable=False),
    sa.Column('agreement_ref', sa.String(length=100), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('approval_id', sa.String(length=32), nullable=True),
    sa.Column('requested_by', sa.String(length=32), nullable=False),
    sa.Column('requested_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('produced_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_shares'))
    )
    calendar = sa.table('privacy_calendar', sa.column('day', sa.Date()), sa.column('kind', sa.String()),
                        sa.column('note', sa.String()))
    op.bulk_insert(calendar, [{"day": datetime.date.fromisoformat(d), "kind": k, "note": n} for d, k, n in SEED_2026])


def downgrade() -> None:
    op.drop_table('privacy_shares')
    op.drop_table('privacy_destructions')
    op.drop_index('ix_privacy_requests_status', table_name='privacy_requests')
    op.drop_index(op.f('ix_privacy_requests_customer_no'), table_name='privacy_requests')
    op.drop_table('privacy_requests')
    op.drop_index(op.f('ix_privacy_legal_holds_customer_no'), table_name='privacy_legal_holds')
    op.drop_table('privacy_legal_holds')
    op.drop_table('privacy_calendar')
