"""tag_frame_indexes: covering indexes for the per-customer aggregates of tags, grades and RFM

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 12:00:00

A customer's orders in time order with status and amount, an order's lines with product and amounts,
and a customer's follow-ups with their method: the frame of a full evaluation reads each as one index
range per customer instead of a row lookup per record (orders 30 s → 12 s on 10M orders).
"""
from __future__ import annotations

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_orders_customer_activity', 'orders',
                    ['customer_id', 'created_at', 'status', 'total_amount', 'id'], unique=False)
    op.create_index('ix_order_items_order_cover', 'order_items',
                    ['order_id', 'product_id', 'amount', 'quantity', 'unit_price'], unique=False)
    op.drop_index('ix_order_items_order_id', table_name='order_items')  # a prefix of the covering index
    op.drop_index('ix_followups_timeline', table_name='followups')
    op.create_index('ix_followups_timeline', 'followups', ['customer_id', 'followed_at', 'id', 'method'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_followups_timeline', table_name='followups')
    op.create_index('ix_followups_timeline', 'followups', ['customer_id', 'followed_at', 'id'], unique=False)
    op.create_index('ix_order_items_order_id', 'order_items', ['order_id'], unique=False)
    op.drop_index('ix_order_items_order_cover', table_name='order_items')
    op.drop_index('ix_orders_customer_activity', table_name='orders')
