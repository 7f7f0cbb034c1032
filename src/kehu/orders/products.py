"""The product catalogue (产品目录) with product lines: company data, managed with `manage_products`."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.kit import validate as v
from kehu.kit.ids import new_id
from kehu.orders import repository as repo
from kehu.orders.models import Product, ProductLine
from kehu.runtime import Ctx

LIMITS = {"code": ("编码", 30), "name": ("名称", 100), "unit": ("单位", 10)}


def _text(data: dict, name: str, errors: list[FieldError], *, required: bool, label: str | None = None,
          length: int | None = None) -> str | None:
    lab, max_len = LIMITS.get(name, (label, length))
    raw = data.get(name)
    text = v.normalize_text(raw) if raw is not None else ""
    if not text:
        if required:
            errors.append(FieldError(name, "required", f"请填写{lab}"))
        return None
    if len(text) > (length or max_len):
        errors.append(FieldError(name, "too_long", f"{lab}：长度不能超过{length or max_len}个字符"))
    return text


def _price(data: dict, errors: list[FieldError]) -> Decimal | None:
    raw = data.get("list_price")
    if raw in (None, ""):
        return None
    try:
        value = Decimal(v.normalize_text(raw))
    except InvalidOperation:
        errors.append(FieldError("list_price", "decimal_invalid", "标准单价：应为数字"))
        return None
    if not value.is_finite() or value < 0 or value >= Decimal("1e16"):
        errors.append(FieldError("list_price", "decimal_range", "标准单价：应为不小于0的数字"))
        return None
    return value.quantize(Decimal("0.01"))


def product_dict(p: Product) -> dict[str, Any]:
    """JSON form of a product."""
    return {"id": p.id, "code": p.code, "name": p.name, "line_code": p.line.code, "line_name": p.line.name,
            "unit": p.unit, "list_price": None if p.list_price is None else format(p.list_price, "f"),
            "active": p.active}


def create_line(session: Session, ctx: Ctx, *, data: dict[str, Any]) -> dict[str, Any]:
    """Add a product line (code unique)."""
    require_capability(ctx.principal, "manage_products")
    errors: list[FieldError] = []
    code, name = _text(data, "code", errors, required=True), _text(data, "name", errors, required=True)
    if errors:
        raise ValidationFailed(errors)
    if repo.line_by_ref(session, code) is not None:
        raise Conflict("产品线编码已存在", code="duplicate")
    line = ProductLine(id=new_id(), code=code, name=name)
    session.add(line)
    ctx.audit(session, action="product_line.create", target_type="product_line", target_id=code)
    return {"id": line.id, "code": code, "name": name}


def list_lines(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """All product lines."""
    return [{"id": ln.id, "code": ln.code, "name": ln.name} for ln in repo.list_lines(session)]


def create(session: Session, ctx: Ctx, *, data: dict[str, Any]) -> dict[str, Any]:
    """Add a product to a line (code unique)."""
    require_capability(ctx.principal, "manage_products")
    errors: list[FieldError] = []
    code, name = _text(data, "code", errors, required=True), _text(data, "name", errors, required=True)
    unit, price = _text(data, "unit", errors, required=False), _price(data, errors)
    line_ref = _text(data, "line", errors, required=True, label="产品线", length=32)
    line = repo.line_by_ref(session, line_ref) if line_ref else None
    if line_ref and line is None:
        errors.append(FieldError("line", "line_not_found", "产品线不存在"))
    if errors:
        raise ValidationFailed(errors)
    if repo.product_by_ref(session, code) is not None:
        raise Conflict("产品编码已存在", code="duplicate")
    product = Product(id=new_id(), code=code, name=name, line_id=line.id, unit=unit, list_price=price, active=True)
    product.line = line
    session.add(product)
    ctx.audit(session, action="product.create", target_type="product", target_id=code)
    return product_dict(product)


def update(session: Session, ctx: Ctx, *, code: str, data: dict[str, Any]) -> dict[str, Any]:
    """Rename, re-price, move or (de)activate a product; existing orders keep their lines."""
    require_capability(ctx.principal, "manage_products")
    product = repo.product_by_ref(session, code)
    if product is None:
        raise NotFound()
    errors: list[FieldError] = []
    if "name" in data:
        product.name = _text(data, "name", errors, required=True) or product.name
    if "unit" in data:
        product.unit = _text(data, "unit", errors, required=False)
    if "list_price" in data:
        product.list_price = _price(data, errors)
    if "line" in data:
        line = repo.line_by_ref(session, _text(data, "line", errors, required=True, label="产品线", length=32) or "")
        if line is None:
            errors.append(FieldError("line", "line_not_found", "产品线不存在"))
        else:
            product.line_id, product.line = line.id, line
    if data.get("active") is not None:
        product.active = bool(data["active"])
    if errors:
        raise ValidationFailed(errors)
    ctx.audit(session, action="product.update", target_type="product", target_id=product.code,
              detail={"changed": sorted(data)})
    return product_dict(product)


def list_(session: Session, ctx: Ctx, *, line: str | None = None, active_only: bool = True,
          q: str | None = None) -> list[dict[str, Any]]:
    """Products (company catalogue: readable by every signed-in user)."""
    return [product_dict(p) for p in repo.list_products(session, line=line, active_only=active_only,
                                                         q=v.normalize_text(q) if q else None)]
