"""Request bodies: customer-data ones generated from the catalogue; the product catalogue's written out."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from kehu.schemas import REASON, Scalar, Strict, input_model

OrderItemCreate = input_model("order_item", "Create")
OrderCreate = input_model("order", "Create", (
    ("customer_no", Optional[str], Field(default=None, max_length=20, title="客户档案编号")),
    ("items", list[OrderItemCreate], Field(default_factory=list, max_length=500, title="产品明细")),
))
OrderUpdate = input_model("order", "Update", (REASON,))
PaymentPlanCreate = input_model("payment_plan", "Create")
PaymentCreate = input_model("payment", "Create")


class RevealFields(Strict):
    """Fields of one record to show in plain text, with the reason (audited)."""

    fields: list[str] = Field(min_length=1, max_length=20)
    reason: str = Field(max_length=500)


class ProductLineCreate(Strict):
    """A new product line."""

    code: Scalar = Field(default=None, title="产品线编码")
    name: Scalar = Field(default=None, title="产品线名称")


class ProductCreate(Strict):
    """A new product."""

    code: Scalar = Field(default=None, title="产品编码")
    name: Scalar = Field(default=None, title="产品名称")
    line: Scalar = Field(default=None, title="产品线（编码或 id）")
    unit: Scalar = Field(default=None, title="单位")
    list_price: Scalar = Field(default=None, title="标准单价")


class ProductUpdate(Strict):
    """Changes to a product (only the fields sent)."""

    name: Scalar = None
    line: Scalar = None
    unit: Scalar = None
    list_price: Scalar = None
    active: Optional[bool] = None
