"""order_items_customer: an order line carries its order's customer; lines indexed customer by customer

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-23 14:00:00

The tag frame sums a customer's order lines of the last year (by product line) walking the customer's
orders. Looked up by order id alone, each order's lines sit anywhere in a 16M-line index (10M orders:
11 of the items' 16 s went to those lookups); keyed by (customer, order) they sit next to the previous
order's. An order never changes customer, so the copy cannot drift; it is written with the line.
The covering index by order id of 0021 goes back to a plain one (an order's lines, cascades).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from kehu.setup import declare_rebuilt

    bind = op.get_bind()
    declare_rebuilt(bind, revision, ["order_items"])  # only its foreign keys are checked before the commit
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:  # the fill rewrites every line and SQLite copies the table: a page cache as large as the table
        before = bind.exec_driver_sql("PRAGMA cache_size").scalar()  # (with the default 2 MB, 16M lines took
        bind.exec_driver_sql("PRAGMA cache_size=-2000000")  # over 15 minutes of re-reading spilled pages)
    op.drop_index('ix_order_items_order_cover', table_name='order_items')
    op.add_column('order_items', sa.Column('customer_id', sa.String(length=32), nullable=True))
    op.execute("UPDATE order_items SET customer_id = (SELECT orders.customer_id FROM orders "
               "WHERE orders.id = order_items.order_id)")
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.alter_column('customer_id', existing_type=sa.String(length=32), nullable=False)
    op.create_index('ix_order_items_order_id', 'order_items', ['order_id'], unique=False)
    op.create_index('ix_order_items_customer', 'order_items',
                    ['customer_id', 'order_id', 'product_id', 'amount', 'quantity', 'unit_price'], unique=False)
    if sqlite:
        bind.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def downgrade() -> None:
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_index('ix_order_items_customer')
        batch_op.drop_index('ix_order_items_order_id')
        batch_op.create_index('ix_order_items_order_cover',
                              ['order_id', 'product_id', 'amount', 'quantity', 'unit_price'], unique=False)
        batch_op.drop_column('customer_id')
