"""consent tables (reserved revision: only the consent work edits this file)

Consent purposes (seeded with 客户服务/合同履行/营销推广/满意度调查), versioned privacy notices
(seeded with version 1.0), consent records (grants and withdrawals) and the current consent state.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

PURPOSES = (("service", "客户服务", "处理咨询、售后、投诉等客户服务事项"),
            ("contract", "合同履行", "订立和履行与客户的合同（订单、交付、回款）"),
            ("marketing", "营销推广", "向客户推送产品、活动等营销信息"),
            ("survey", "满意度调查", "回访与满意度调查"))
NOTICE = """本公司依据《中华人民共和国个人信息保护法》收集和使用您的个人信息。
一、我们收集的信息：姓名、联系方式、地址等您在本表中填写的信息。身份证号、银行账户、健康状况、精确位置等属于敏感个人信息，仅在您单独同意后收集。
二、使用目的：仅用于您勾选同意的目的（如客户服务、合同履行、营销推广、满意度调查），不超出该范围使用。
三、保存与保护：信息加密保存，仅经授权的人员按最小必要原则访问，每次访问均有记录。
四、您的权利：您可以查阅、复制、更正、删除您的个人信息，并可随时撤回同意；撤回同意不影响撤回前基于同意已进行的处理。
五、未成年人：不满十四周岁的未成年人的个人信息，须由其父母或其他监护人同意后方可收集。"""


def upgrade() -> None:
    purposes = op.create_table('consent_purposes',
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_consent_purposes'))
    )
    notices = op.create_table('privacy_notices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('published_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_notices')),
    sa.UniqueConstraint('version', name=op.f('uq_privacy_notices_version'))
    )
    op.create_table('consent_records',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('purposes', sa.String(length=400), nullable=True),
    sa.Column('scope', sa.String(length=200), nullable=True),
    sa.Column('sensitive', sa.String(length=3), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('notice_version', sa.String(length=20), nullable=True),
    sa.Column('guardian_name', sa.LargeBinary(), nullable=True),
    sa.Column('guardian_relation', sa.String(length=12), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('source', sa.String(length=60), nullable=True),
    sa.Column('recorded_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consent_records_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records'))
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index('ix_consent_records_customer', ['customer_id', 'recorded_at'], unique=False)

    op.create_table('consent_state',
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('item', sa.String(length=30), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('changed_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consent_state_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', 'item', name=op.f('pk_consent_state'))
    )
    with op.batch_alter_table('consent_state', schema=None) as batch_op:
        batch_op.create_index('ix_consent_state_item', ['item', 'granted', 'customer_id'], unique=False)

    op.bulk_insert(purposes, [{"code": c, "name": n, "description": d, "active": True, "position": i}
                              for i, (c, n, d) in enumerate(PURPOSES)])
    op.bulk_insert(notices, [{"id": secrets.token_hex(16), "version": "1.0", "title": "客户个人信息保护告知书",
                              "text": NOTICE, "published_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                              "published_by": None}])


def downgrade() -> None:
    with op.batch_alter_table('consent_state', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_state_item')

    op.drop_table('consent_state')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_records_customer')

    op.drop_table('consent_records')
    op.drop_table('privacy_notices')
    op.drop_table('consent_purposes')
