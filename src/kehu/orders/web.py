"""HTML adapter of orders/contracts: the archive's order tab, the order page (items, payment plans, payments,
delivery, attachments), the new-order form, overdue receivables and the product catalogue."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.access.web import assignable
from kehu.errors import FieldError, Forbidden, KehuError, ValidationFailed
from kehu.interactions.service import load_customer
from kehu.interactions.tabs import (columns, customers_only, form_page, inputs, may, may_any, message, rows,
                                    shown_on_form, tab, unprefixed)
from kehu.orders import attachments, payments, products, service
from kehu.orders.api import download, upload_bytes
from kehu.orders.models import ORDER_STATUSES, TRANSITIONS
from kehu.web import forms, view
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.render import today_local
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
ITEM_ROWS = 5
ORDER_FORM = ("signer", "start_on", "end_on", "terms")
Day = Annotated[Optional[date], Query()]


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entries: overdue receivables for users who see customers, the catalogue for its managers."""
    items = [("nav.receivables", "/receivables")] if principal.sees_customers else []
    return items + ([("nav.products", "/admin/products")] if principal.has("manage_products") else [])


# --- the archive's order tab ----------------------------------------------------------------------

def _overdue_orders(s, ctx, today: date, customer_no: str | None = None) -> dict[str, dict]:
    """order_no → overdue row (empty when the viewer may not see amounts)."""
    try:
        found = payments.overdue(s, ctx, today=today, customer_no=customer_no, limit=500)
    except Forbidden:
        return {}
    return {o["order_no"]: o for o in found["orders"]}


@router.get("/customers/{no}/orders")
def customer_orders(call: Web, no: str) -> Response:
    """Orders/contracts of a customer with their overdue flags."""
    today = today_local()

    def go(s, ctx):
        customers_only(ctx)
        load_customer(s, ctx, no)
        return service.list_(s, ctx, customer_no=no, limit=100), _overdue_orders(s, ctx, today, no)

    page, late = call.run("order.list", go, target=no)
    specs = columns(call, "order", service.LIST_FIELDS)
    return tab(call, no, "orders", "orders/_tab.html", rows=rows(call, specs, page["items"]), specs=specs,
               late=late, can_add=may_any(call, "create", "order"))


# --- new order ------------------------------------------------------------------------------------

def _product_choices(s, ctx) -> list[tuple[str, str]]:
    return [(p["code"], f"{p['name']} · {p['line_name']}") for p in products.list_(s, ctx)]


def _posted_items(call: WebCall) -> tuple[list[dict[str, str]], list[int]]:
    """Filled item rows of the form and the row number of each (blank rows are skipped)."""
    out, where = [], []
    for i in range(ITEM_ROWS):
        row = {k: call.value(f"items-{i}-{k}").strip() for k in ("product_id", "quantity", "unit_price")}
        if any(row.values()):
            out.append(row)
            where.append(i)
    return out, where


def _order_form(call: WebCall, no: str, *, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        customers_only(ctx)
        load_customer(s, ctx, no)
        return _product_choices(s, ctx)

    choices = call.run("order.create", go, target=no)
    posted = forms.parse(call.form, call.catalog, "order") if exc else None
    items, problems = inputs(call, "order", only=ORDER_FORM, posted=posted, exc=exc)
    lines = [{"product_id": call.value(f"items-{i}-product_id"), "quantity": call.value(f"items-{i}-quantity"),
              "unit_price": call.value(f"items-{i}-unit_price"), "errors": {}} for i in range(ITEM_ROWS)]
    if isinstance(exc, ValidationFailed):
        _, where = _posted_items(call)
        for e in exc.errors:
            if e.field.startswith("items["):
                n, name = e.field[6:].split("].", 1) if "]." in e.field else (e.field[6:-1], "product_id")
                if n.isdigit() and int(n) < len(where):
                    lines[where[int(n)]]["errors"][name] = e.message
        problems.general = [m for m in problems.general if m not in
                            {e.message for e in exc.errors if e.field.startswith("items[")}]
    if not exc:
        lines[0]["quantity"] = "1"
    return form_page(call, title=t("flow.order.new"), action=f"/customers/{no}/order",
                     back=f"/customers/{no}/orders", items=items, problems=problems, no=no,
                     extra="orders/_items.html", lines=lines, product_choices=choices,
                     item_specs={n: call.catalog.get("order_item", n) for n in ("product_id", "quantity",
                                                                                "unit_price")},
                     status=exc.status if exc else 200)


@router.get("/customers/{no}/order")
def order_form(call: Web, no: str) -> Response:
    """The form of a new order/contract with its product lines."""
    return _order_form(call, no)


@router.post("/customers/{no}/order")
def order_add(call: Web, no: str) -> Response:
    """Create the order; 422 messages go under the fields and item rows they concern."""
    lines, _ = _posted_items(call)
    try:
        order = call.run("order.create", lambda s, ctx: service.create(
            s, ctx, customer_no=no, data=forms.parse(call.form, ctx.catalog, "order"), items=lines), target=no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _order_form(call, no, exc=exc)
    return call.redirect(f"/orders/{order['order_no']}?ok=created")


# --- the order page --------------------------------------------------------------------------------

def _order_page(call: WebCall, order_no: str, *, failed: str | None = None, exc: KehuError | None = None) -> Response:
    today = today_local()

    def go(s, ctx):
        customers_only(ctx)
        order = service.get(s, ctx, order_no=order_no)
        return (order, payments.summary(s, ctx, order_no=order_no, today=today),
                attachments.list_(s, ctx, order_no=order_no), assignable(s, ctx.principal))

    order, pay, files, refs = call.run("order.read", go, target=order_no)
    for row in pay["payments"]:  # the handler (a user reference) is shown by name
        row["owner_name"] = row.get("handler_name")
    late = any(p.get("overdue") for p in pay["plans"])
    specs = columns(call, "order", [n for n in ("order_no", "status", "delivery_status", "total_amount", "signer",
                                                "start_on", "end_on", "terms")])
    forms_ = {}
    for key, entity in (("plan", "payment_plan"), ("payment", "payment")):
        posted = forms.parse(unprefixed(call.form, key + "-"), call.catalog, entity) if failed == key else None
        forms_[key] = inputs(call, entity, posted=posted, refs={"handler_id": refs["owner_id"]}, prefix=key + "-",
                             defaults={"due_on": today.isoformat(), "paid_on": today.isoformat()},
                             exc=exc if failed == key else None)
    can_write = {"plan": may_any(call, "create", "payment_plan"), "payment": may_any(call, "create", "payment"),
                 "update": may_any(call, "modify", "order"), "attach": all(may(call, "create", "order_attachment", n) for n in attachments.FIELDS),
                 "delete": all(may(call, "delete", "order_attachment", n) for n in attachments.FIELDS)}
    status = order.get("status")
    next_status = [(k, v) for k, v in ORDER_STATUSES if k in TRANSITIONS.get(status or "", set())]
    return call.page("orders/detail.html", o=order, no=order["customer_no"], order_no=order_no,
                     cells=view.cells(call.principal, specs, order),
                     items=rows(call, columns(call, "order_item", ["product_id", "quantity", "unit_price", "amount"]),
                                order.get("items", [])),
                     item_specs=columns(call, "order_item", ["product_id", "quantity", "unit_price", "amount"]),
                     plans=rows(call, columns(call, "payment_plan"), pay["plans"]),
                     plan_specs=columns(call, "payment_plan"),
                     pays=rows(call, columns(call, "payment"), pay["payments"]), pay_specs=columns(call, "payment"),
                     totals=pay.get("totals"), files=files, late=late, forms=forms_, failed=failed,
                     notice=message(exc) if exc and failed in ("update", "attachment") else None,
                     can=can_write, next_status=next_status,
                     delivery=call.catalog.get("order", "delivery_status"), reason=call.value("reason"),
                     status=exc.status if exc else 200)


@router.get("/orders/{order_no}")
def order_page(call: Web, order_no: str) -> Response:
    """One order: fields, items, payment plans (overdue flags), payments, totals, delivery, attachments."""
    return _order_page(call, order_no)


def _order_write(call: WebCall, order_no: str, key: str, action: str, fn, flash: str) -> Response:
    try:
        call.run(action, fn, target=order_no)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _order_page(call, order_no, failed=key, exc=exc)
    return call.redirect(f"/orders/{order_no}?ok={flash}#{key}")


@router.post("/orders/{order_no}/update")
def order_update(call: Web, order_no: str) -> Response:
    """Change the status and the delivery status (a reason is required; kept in the history)."""
    data = {k: call.value(k) for k in ("status", "delivery_status") if call.value(k)}
    return _order_write(call, order_no, "update", "order.update", lambda s, ctx: service.update(
        s, ctx, order_no=order_no, data=data, reason=call.value("reason")), "saved")


@router.post("/orders/{order_no}/plans")
def plan_add(call: Web, order_no: str) -> Response:
    """Plan a payment (回款计划)."""
    return _order_write(call, order_no, "plan", "payment_plan.create", lambda s, ctx: payments.add(
        s, ctx, order_no=order_no, entity="payment_plan",
        data=forms.parse(unprefixed(call.form, "plan-"), ctx.catalog, "payment_plan")),
        "created")


@router.post("/orders/{order_no}/payments")
def payment_add(call: Web, order_no: str) -> Response:
    """Record an actual payment (实际回款)."""
    return _order_write(call, order_no, "payment", "payment.create", lambda s, ctx: payments.add(
        s, ctx, order_no=order_no, entity="payment",
        data=forms.parse(unprefixed(call.form, "payment-"), ctx.catalog, "payment")), "created")


@router.post("/orders/{order_no}/attachments")
def attachment_add(call: Web, order_no: str) -> Response:
    """Upload an attachment (type by content, size limit)."""
    upload = call.form.get("file") if call.form is not None else None
    name, content = upload_bytes(upload if hasattr(upload, "file") else None,
                                 call.kehu.settings.attachment_max_bytes)
    return _order_write(call, order_no, "attachment", "order_attachment.create", lambda s, ctx: attachments.add(
        s, ctx, order_no=order_no, filename=name, content=content), "uploaded")


@router.get("/orders/{order_no}/attachments/{attachment_id}")
def attachment_download(call: Web, order_no: str, attachment_id: str) -> Response:
    """The file, as a download (404 for a viewer who may not see it)."""
    meta, content = call.run("order_attachment.download", lambda s, ctx: attachments.read(
        s, ctx, order_no=order_no, attachment_id=attachment_id), target=order_no)
    return download(meta, content)


@router.post("/orders/{order_no}/attachments/{attachment_id}/delete")
def attachment_delete(call: Web, order_no: str, attachment_id: str) -> Response:
    """Remove an attachment (delete right at its level)."""
    return _order_write(call, order_no, "attachment", "order_attachment.delete", lambda s, ctx: attachments.delete(
        s, ctx, order_no=order_no, attachment_id=attachment_id), "deleted")


# --- overdue receivables ---------------------------------------------------------------------------

@router.get("/receivables")
def receivables(call: Web, as_of: Day = None, cursor: Annotated[Optional[str], Query(max_length=40)] = None) -> Response:
    """Overdue receivables of customers in scope, per order and per customer, as of a day."""
    day = as_of or today_local()

    def go(s, ctx):
        customers_only(ctx)
        return payments.overdue(s, ctx, today=day, cursor=cursor, limit=100)

    found = call.run("receivable.overdue", go)
    more = f"/receivables?as_of={day.isoformat()}&cursor={found['next_cursor']}" if found["next_cursor"] else None
    return call.page("orders/receivables.html", found=found, as_of=day, more=more)


# --- product catalogue (manage_products) ------------------------------------------------------------

def _catalogue_page(call: WebCall, *, failed: str | None = None, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        if not ctx.principal.has("manage_products"):
            raise Forbidden()
        return products.list_lines(s, ctx), products.list_(s, ctx, active_only=False)

    lines, items = call.run("product.list", go)
    errors: dict[str, str] = {}
    general: list[str] = []
    if exc is not None:
        for e in (exc.errors if isinstance(exc, ValidationFailed) else [FieldError("", exc.code, exc.message)]):
            if e.field and e.field not in errors:
                errors[e.field] = e.message
            else:
                general.append(e.message)
    return call.page("orders/products.html", lines=lines, products=items,
                     line_choices=[(ln["code"], ln["name"]) for ln in lines], failed=failed, errors=errors,
                     general=general, posted={k: call.value(k) for k in ("code", "name", "line", "unit", "list_price",
                                                                          "line_code", "line_name")} if exc else {},
                     status=exc.status if exc else 200)


@router.get("/admin/products")
def catalogue(call: Web) -> Response:
    """Product lines and products; new line, new product, (de)activate."""
    return _catalogue_page(call)


def _catalogue_write(call: WebCall, key: str, action: str, fn) -> Response:
    try:
        call.run(action, fn)
    except KehuError as exc:
        if not shown_on_form(exc):
            raise
        return _catalogue_page(call, failed=key, exc=exc)
    return call.redirect(f"/admin/products?ok=saved#{key}")


@router.post("/admin/products/lines")
def line_add(call: Web) -> Response:
    """Add a product line."""
    return _catalogue_write(call, "line", "product_line.create", lambda s, ctx: products.create_line(
        s, ctx, data={"code": call.value("line_code"), "name": call.value("line_name")}))


@router.post("/admin/products")
def product_add(call: Web) -> Response:
    """Add a product."""
    data: dict[str, Any] = {k: call.value(k) for k in ("code", "name", "line", "unit", "list_price")}
    return _catalogue_write(call, "product", "product.create", lambda s, ctx: products.create(s, ctx, data=data))


@router.post("/admin/products/{code}/active")
def product_active(call: Web, code: str) -> Response:
    """Activate or deactivate a product (orders keep their lines)."""
    active = call.value("active") == "true"
    return _catalogue_write(call, "products", "product.update", lambda s, ctx: products.update(
        s, ctx, code=code, data={"active": active}))
