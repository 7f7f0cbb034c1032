"""REST adapter of products, orders/contracts, payments and overdue receivables."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

from fastapi import APIRouter, File, Query, Response, UploadFile

from kehu.customers.api import Api
from kehu.edge import body
from kehu.orders import attachments, payments, products, service
from kehu.orders.schemas import (OrderCreate, OrderUpdate, PaymentCreate, PaymentPlanCreate, ProductCreate,
                                 ProductLineCreate, ProductUpdate, RevealFields)

router = APIRouter(prefix="/api/v1", tags=["orders 订单与回款"])
Cursor = Annotated[Optional[str], Query(max_length=40)]
No = Annotated[Optional[str], Query(max_length=20)]


@router.get("/product-lines")
def list_lines(call: Api) -> list:
    """Product lines (产品线)."""
    return call.run("product_line.list", lambda s, ctx: products.list_lines(s, ctx))


@router.post("/product-lines", status_code=201)
def create_line(call: Api, payload: ProductLineCreate) -> dict:
    """Add a product line (needs the manage_products capability)."""
    return call.run("product_line.create", lambda s, ctx: products.create_line(s, ctx, data=body(payload)))


@router.get("/products")
def list_products(call: Api, line: Annotated[Optional[str], Query(max_length=32)] = None,
                  q: Annotated[Optional[str], Query(max_length=100)] = None, include_inactive: bool = False) -> list:
    """The product catalogue (company data, not customer information)."""
    return call.run("product.list", lambda s, ctx: products.list_(s, ctx, line=line, q=q,
                                                                  active_only=not include_inactive))


@router.post("/products", status_code=201)
def create_product(call: Api, payload: ProductCreate) -> dict:
    """Add a product (needs the manage_products capability)."""
    return call.run("product.create", lambda s, ctx: products.create(s, ctx, data=body(payload)))


@router.patch("/products/{code}")
def update_product(call: Api, code: str, payload: ProductUpdate) -> dict:
    """Change a product (needs the manage_products capability)."""
    return call.run("product.update", lambda s, ctx: products.update(s, ctx, code=code, data=body(payload)),
                    target=code)


@router.get("/orders")
def list_orders(call: Api, customer_no: No = None, status: Annotated[Optional[str], Query(max_length=12)] = None,
                cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Orders/contracts of customers in scope, newest first."""
    return call.run("order.list", lambda s, ctx: service.list_(s, ctx, customer_no=customer_no, status=status,
                                                               cursor=cursor, limit=limit))


@router.post("/orders", status_code=201)
def create_order(call: Api, payload: OrderCreate, response: Response) -> dict:
    """Create an order/contract with its items; 422 lists every invalid field (items[i].field)."""
    data = body(payload)
    customer_no, items = data.pop("customer_no", None), data.pop("items", [])
    result = call.run("order.create", lambda s, ctx: service.create(s, ctx, customer_no=customer_no, data=data,
                                                                    items=items), target=customer_no)
    response.headers["Location"] = f"/api/v1/orders/{result['order_no']}"
    return result


@router.get("/orders/{order_no}")
def get_order(call: Api, order_no: str) -> dict:
    """One order with its items, as the caller may see it."""
    return call.run("order.read", lambda s, ctx: service.get(s, ctx, order_no=order_no), target=order_no)


@router.patch("/orders/{order_no}")
def update_order(call: Api, order_no: str, payload: OrderUpdate) -> dict:
    """Change status, delivery status, terms, dates or signer (reason required, kept in the history)."""
    data = body(payload)
    reason = data.pop("reason", None)
    return call.run("order.update", lambda s, ctx: service.update(s, ctx, order_no=order_no, data=data,
                                                                  reason=reason), target=order_no)


@router.get("/orders/{order_no}/payments")
def list_payments(call: Api, order_no: str, as_of: Optional[date] = None) -> dict:
    """Payment plans (with outstanding and overdue), actual payments and totals as of a day (default today)."""
    return call.run("payment.list", lambda s, ctx: payments.summary(s, ctx, order_no=order_no,
                                                                    today=as_of or date.today()), target=order_no)


@router.post("/orders/{order_no}/payments/plans", status_code=201)
def plan_payment(call: Api, order_no: str, payload: PaymentPlanCreate) -> dict:
    """Plan a payment (回款计划): due date and amount."""
    return call.run("payment_plan.create", lambda s, ctx: payments.add(
        s, ctx, order_no=order_no, entity="payment_plan", data=body(payload)), target=order_no)


@router.post("/orders/{order_no}/payments", status_code=201)
def record_payment(call: Api, order_no: str, payload: PaymentCreate) -> dict:
    """Record an actual payment (实际回款): date, amount, method, handler, account (一级, encrypted)."""
    return call.run("payment.create", lambda s, ctx: payments.add(
        s, ctx, order_no=order_no, entity="payment", data=body(payload)), target=order_no)


@router.post("/orders/{order_no}/payments/{payment_id}/reveal")
def reveal_payment(call: Api, order_no: str, payment_id: str, payload: RevealFields) -> dict:
    """Plain values of a payment's fields (the account): reveal right and a reason; audited."""
    return call.run("customer.reveal", lambda s, ctx: payments.reveal(
        s, ctx, order_no=order_no, payment_id=payment_id, fields=payload.fields, reason=payload.reason),
        target=order_no)


@router.get("/receivables/overdue")
def overdue(call: Api, customer_no: No = None, as_of: Optional[date] = None, cursor: Cursor = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    """Overdue receivables (planned payments past due and unpaid) per order and per customer."""
    return call.run("receivable.overdue", lambda s, ctx: payments.overdue(
        s, ctx, today=as_of or date.today(), customer_no=customer_no, cursor=cursor, limit=limit))


def upload_bytes(file: UploadFile | None, limit: int) -> tuple[str | None, bytes | None]:
    """(name, content) of an uploaded file, reading at most one byte past the limit (enough to refuse it)."""
    if file is None:
        return None, None
    return file.filename, file.file.read(limit + 1)


def download(meta: dict, content: bytes) -> Response:
    """An attachment as a download: never rendered inline, never sniffed, not cached."""
    from urllib.parse import quote

    name = meta["filename"]
    ascii_name = name.encode("ascii", "ignore").decode().replace('"', "") or "attachment"
    return Response(content, media_type=meta["content_type"], headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.get("/orders/{order_no}/attachments")
def list_attachments(call: Api, order_no: str) -> dict:
    """Attachments of an order (name, type, size, who, when)."""
    return call.run("order_attachment.list", lambda s, ctx: attachments.list_(s, ctx, order_no=order_no),
                    target=order_no)


@router.post("/orders/{order_no}/attachments", status_code=201)
def upload_attachment(call: Api, order_no: str, file: Optional[UploadFile] = File(default=None)) -> dict:
    """Attach a file (PDF, image, Office document, plain text; size limit KEHU_ATTACHMENT_MAX_BYTES)."""
    name, content = upload_bytes(file, call.kehu.settings.attachment_max_bytes)
    return call.run("order_attachment.create", lambda s, ctx: attachments.add(
        s, ctx, order_no=order_no, filename=name, content=content), target=order_no)


@router.get("/orders/{order_no}/attachments/{attachment_id}")
def download_attachment(call: Api, order_no: str, attachment_id: str) -> Response:
    """The file (Content-Disposition: attachment); 404 for a caller who may not see it."""
    meta, content = call.run("order_attachment.download", lambda s, ctx: attachments.read(
        s, ctx, order_no=order_no, attachment_id=attachment_id), target=order_no)
    return download(meta, content)


@router.delete("/orders/{order_no}/attachments/{attachment_id}")
def delete_attachment(call: Api, order_no: str, attachment_id: str) -> dict:
    """Remove an attachment (needs the delete right at its level)."""
    return call.run("order_attachment.delete", lambda s, ctx: attachments.delete(
        s, ctx, order_no=order_no, attachment_id=attachment_id), target=order_no)
