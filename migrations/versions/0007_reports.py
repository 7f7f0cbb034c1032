"""reports: pre-aggregated report cells, order balances and the triggers keeping them current

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import kehu.db  # noqa: F401

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_complaint_cells',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('handling', sa.String(length=10), nullable=False),
    sa.Column('responsible_department_id', sa.String(length=32), nullable=False),
    sa.Column('complaints', sa.BigInteger(), nullable=False),
    sa.Column('closed', sa.BigInteger(), nullable=False),
    sa.Column('loss_cents', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('month', 'kind', 'handling', 'responsible_department_id', 'department_id', 'owner_id', 'importance', name=op.f('pk_report_complaint_cells'))
    )
    op.create_table('report_growth_cells',
    sa.Column('indirect', sa.Integer(), nullable=False),
    sa.Column('created_month', sa.String(length=7), nullable=False),
    sa.Column('removed_month', sa.String(length=7), nullable=False),
    sa.Column('customers', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('indirect', 'created_month', 'removed_month', 'department_id', 'owner_id', 'importance', name=op.f('pk_report_growth_cells'))
    )
    op.create_table('report_order_balances',
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('planned_cents', sa.BigInteger(), nullable=False),
    sa.Column('paid_cents', sa.BigInteger(), nullable=False),
    sa.Column('last_paid_on', sa.Date(), nullable=True),
    sa.Column('last_due_on', sa.Date(), nullable=True),
    sa.Column('first_unpaid_due_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_report_order_balances'))
    )
    op.create_index('ix_report_order_balances_customer', 'report_order_balances', ['customer_id'], unique=False)
    op.create_index('ix_report_order_balances_last_paid', 'report_order_balances', ['last_paid_on'], unique=False)
    op.create_index('ix_report_order_balances_overdue', 'report_order_balances', ['first_unpaid_due_on', 'last_due_on', 'last_paid_on', 'status', 'department_id', 'owner_id', 'importance', 'planned_cents', 'paid_cents'], unique=False)
    op.create_table('report_payment_cells',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('payments', sa.BigInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('month', 'department_id', 'owner_id', 'importance', name=op.f('pk_report_payment_cells'))
    )
    op.create_table('report_plan_cells',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('plans', sa.BigInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('month', 'department_id', 'owner_id', 'importance', name=op.f('pk_report_plan_cells'))
    )
    op.create_table('report_region_cells',
    sa.Column('province', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=30), nullable=False),
    sa.Column('created_month', sa.String(length=7), nullable=False),
    sa.Column('removed_month', sa.String(length=7), nullable=False),
    sa.Column('customers', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('province', 'city', 'created_month', 'removed_month', 'department_id', 'owner_id', 'importance', name=op.f('pk_report_region_cells'))
    )
    op.create_table('report_sales_cells',
    sa.Column('province', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=30), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('province', 'city', 'month', 'department_id', 'owner_id', 'importance', name=op.f('pk_report_sales_cells'))
    )
    op.create_index('ix_report_sales_cells_month', 'report_sales_cells', ['month'], unique=False)
    op.create_index('ix_report_plans_order_due', 'payment_plans', ['order_id', 'due_on', 'amount'], unique=False)
    op.create_index('ix_report_payments_order_paid', 'payments', ['order_id', 'paid_on', 'amount'], unique=False)
    # triggers (both engines) and the initial fill from the existing rows: kehu.reports.cubes
    from kehu.reports import cubes

    cubes.install(op.get_bind())


def downgrade() -> None:
    from kehu.reports import cubes

    cubes.uninstall(op.get_bind())
    op.drop_index('ix_report_payments_order_paid', table_name='payments')
    op.drop_index('ix_report_plans_order_due', table_name='payment_plans')
    op.drop_index('ix_report_sales_cells_month', table_name='report_sales_cells')
    op.drop_table('report_sales_cells')
    op.drop_table('report_region_cells')
    op.drop_table('report_plan_cells')
    op.drop_table('report_payment_cells')
    op.drop_index('ix_report_order_balances_overdue', table_name='report_order_balances')
    op.drop_index('ix_report_order_balances_last_paid', table_name='report_order_balances')
    op.drop_index('ix_report_order_balances_customer', table_name='report_order_balances')
    op.drop_table('report_order_balances')
    op.drop_table('report_growth_cells')
    op.drop_table('report_complaint_cells')
