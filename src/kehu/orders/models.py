"""Product catalogue (not customer data) and the customer's orders, items and payments (declared fields)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kehu.catalog.spec import field, system
from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["ProductLine", "Product", "OrderSequence", "Order", "OrderItem", "PaymentPlan", "Payment",
           "OrderAttachment"]

ORDER_STATUSES = (("draft", "草拟"), ("signed", "已签订"), ("executing", "执行中"), ("completed", "已完成"),
                  ("terminated", "已终止"), ("cancelled", "已取消"))
#: allowed status changes; completed / terminated / cancelled are final
TRANSITIONS = {"draft": {"signed", "cancelled"}, "signed": {"executing", "completed", "terminated"},
               "executing": {"completed", "terminated"}}
DELIVERY = (("pending", "未发货"), ("partial", "部分发货"), ("delivered", "已发货"), ("accepted", "已验收"))
PAY_METHODS = (("transfer", "银行转账"), ("cash", "现金"), ("cheque", "支票"), ("bill", "承兑汇票"),
               ("online", "在线支付"), ("other", "其他"))


class ProductLine(Base):
    """A product line (产品线). Company catalogue data, not customer information."""

    __tablename__ = "product_lines"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)


class Product(Base):
    """A product (产品) of a product line. Company catalogue data, not customer information."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    line_id: Mapped[str] = mapped_column(ForeignKey("product_lines.id"), nullable=False, index=True)
    unit: Mapped[str | None] = mapped_column(String(10))
    list_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    line: Mapped[ProductLine] = relationship(lazy="joined")


class OrderSequence(Base):
    """Per-year counter behind order numbers; numbers are never reused."""

    __tablename__ = "order_sequences"

    year: Mapped[int] = system(Integer, primary_key=True, why="calendar year")
    last: Mapped[int] = system(Integer, nullable=False, default=0, why="last number issued")


class Order(Base):
    """An order / contract (订单/合同) of a customer."""

    __tablename__ = "orders"
    __entity__ = "order"
    __retention__ = "accounting"  # 会计档案: kept after erasure, storage only (docs/privacy.md)
    # ix_orders_customer_activity: a customer's purchases in time order, covering what the tag frame reads
    # (status, amount), so per-customer aggregates are one index range, never a row lookup per order
    __table_args__ = (Index("ix_orders_customer", "customer_id", "id"),
                      Index("ix_orders_customer_activity", "customer_id", "created_at", "status", "total_amount", "id"))

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="ordering customer")
    order_no: Mapped[str] = field("合同编号", level=3, category="management", length=20, writable=False,
                                  nullable=False, unique=True, help="HT+年份+序号，唯一且永不复用")
    status: Mapped[str] = field("合同状态", level=3, category="management", kind="choice", choices=ORDER_STATUSES,
                                length=12, nullable=False, default="draft", index=True)
    delivery_status: Mapped[str] = field("交付状态", level=3, category="management", kind="choice",
                                         choices=DELIVERY, length=12, nullable=False, default="pending")
    total_amount: Mapped[Decimal] = field("合同金额", level=2, category="transaction", kind="decimal",
                                          writable=False, nullable=False, help="各明细金额之和")
    terms: Mapped[str | None] = field("主要条款", level=2, category="transaction", length=4000)
    start_on: Mapped[date | None] = field("开始日期", level=2, category="transaction", kind="date")
    end_on: Mapped[date | None] = field("结束日期", level=2, category="transaction", kind="date")
    signer: Mapped[str | None] = field("签约人", level=2, category="identity", mask="name", length=60)
    created_by: Mapped[str | None] = system(String(32), why="user who entered the order")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="creation time")
    updated_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="last change time")

    items: Mapped[list["OrderItem"]] = relationship(cascade="all, delete-orphan", order_by="OrderItem.line_no")


class OrderItem(Base):
    """One line of an order: product, quantity, unit price, amount (= quantity × unit price)."""

    __tablename__ = "order_items"
    __entity__ = "order_item"
    __customer_link__ = ("order_id", "order")
    __retention__ = "accounting"
    # a customer's order lines with what aggregates read (product, amounts), customer by customer: the tag
    # frame walks a customer's orders and finds each order's lines next to the previous order's (a lookup by
    # order id alone lands anywhere in the index: 3M such lookups took 11 of the 16 s of the items aggregates)
    __table_args__ = (ForeignKeyConstraint(["product_id"], ["products.id"]),
                      Index("ix_order_items_customer", "customer_id", "order_id", "product_id", "amount", "quantity",
                            "unit_price"))

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    order_id: Mapped[str] = system(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True,
                                   why="order of the line")
    customer_id: Mapped[str] = system(String(32), nullable=False,
                                      why="the order's customer, copied (an order never changes customer)")
    line_no: Mapped[int] = system(Integer, nullable=False, why="position of the line in the order")
    product_id: Mapped[str] = field("产品", level=2, category="transaction", length=32, nullable=False,
                                    help="产品目录中的产品（purchase history is level 2）")
    quantity: Mapped[Decimal] = field("数量", level=2, category="transaction", kind="decimal",
                                      check="non_negative", nullable=False)
    unit_price: Mapped[Decimal] = field("单价", level=2, category="transaction", kind="decimal",
                                        check="non_negative", nullable=False)
    amount: Mapped[Decimal | None] = field("金额", level=2, category="transaction", kind="decimal",
                                           check="non_negative", help="可不填；填写时须等于数量×单价")


class PaymentPlan(Base):
    """A planned payment (回款计划) of an order: due date and amount."""

    __tablename__ = "payment_plans"
    __entity__ = "payment_plan"
    __customer_link__ = ("order_id", "order")
    __retention__ = "accounting"
    __table_args__ = (Index("ix_payment_plans_due", "due_on", "order_id"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    order_id: Mapped[str] = system(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True,
                                   why="order the plan belongs to")
    due_on: Mapped[date] = field("计划回款日期", level=2, category="transaction", kind="date", nullable=False)
    amount: Mapped[Decimal] = field("计划回款金额", level=2, category="transaction", kind="decimal",
                                    check="non_negative", nullable=False)
    note: Mapped[str | None] = field("说明", level=2, category="transaction", length=500)
    created_by: Mapped[str | None] = system(String(32), why="user who planned it")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="creation time")


class Payment(Base):
    """An actual payment received (实际回款): method, time, amount, handler, account."""

    __tablename__ = "payments"
    __entity__ = "payment"
    __customer_link__ = ("order_id", "order")
    __retention__ = "accounting"
    __table_args__ = (Index("ix_payments_order", "order_id", "paid_on"),)

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    order_id: Mapped[str] = system(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False,
                                   why="order paid")
    paid_on: Mapped[date] = field("回款日期", level=2, category="transaction", kind="date", nullable=False)
    amount: Mapped[Decimal] = field("回款金额", level=2, category="transaction", kind="decimal",
                                    check="non_negative", nullable=False)
    method: Mapped[str] = field("回款方式", level=2, category="transaction", kind="choice", choices=PAY_METHODS,
                                length=10, nullable=False)
    handler_id: Mapped[str | None] = field("经办人", level=3, category="management", length=32, check="user_ref",
                                           help="经办员工；默认为录入人")
    account: Mapped[bytes | None] = field("付款账号", level=1, category="financial", mask="account", encrypt=True,
                                          check="bank_account", length=34)
    note: Mapped[str | None] = field("说明", level=2, category="transaction", length=500)
    created_by: Mapped[str | None] = system(String(32), why="user who recorded it")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="recording time")


class OrderAttachment(Base):
    """A file attached to an order/contract (合同附件); the content is stored encrypted under KEHU_VAR_DIR."""

    __tablename__ = "order_attachments"
    __entity__ = "order_attachment"
    __customer_link__ = ("order_id", "order")
    __retention__ = "accounting"  # the contract file is sealed with the customer's key: shredded with it

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into the file's AAD and name)")
    order_id: Mapped[str] = system(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True,
                                   why="order the file belongs to")
    filename: Mapped[str] = field("附件名称", level=2, category="transaction", length=200, writable=False,
                                  nullable=False, help="上传时的文件名（去除路径与控制字符）")
    content_type: Mapped[str] = field("文件类型", level=3, category="management", length=100, writable=False,
                                      nullable=False, help="按文件内容识别，不按扩展名")
    size_bytes: Mapped[int] = field("文件大小", level=3, category="management", kind="int", writable=False,
                                    nullable=False, help="字节数")
    created_by: Mapped[str | None] = system(String(32), why="user who uploaded the file")
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="upload time")
