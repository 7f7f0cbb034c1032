"""Input validation driven by the catalogue: type, length, choices and the declared check."""
from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from kehu.catalog.registry import Catalog
from kehu.catalog.spec import FieldSpec
from kehu.errors import FieldError, ValidationFailed
from kehu.kit import validate as v


def _postcode(value: Any) -> str:
    text = v.normalize_text(value)
    if not re.fullmatch(r"\d{6}", text):
        raise v.Invalid("postcode_invalid", "邮政编码应为6位数字")
    return text


def _geo(value: Any) -> str:
    text = v.normalize_text(value).replace("，", ",")
    try:
        lat, lng = (float(p) for p in text.split(","))
    except ValueError:
        raise v.Invalid("geo_invalid", "经纬度格式应为“纬度,经度”") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise v.Invalid("geo_range", "经纬度超出范围")
    return f"{lat:.6f},{lng:.6f}"


def _bank_account(value: Any) -> str:
    text = re.sub(r"[\s-]", "", v.normalize_text(value))
    if not re.fullmatch(r"\d{8,34}", text):
        raise v.Invalid("account_invalid", "银行账号应为8-34位数字")
    return text


def _non_negative(value: Any) -> Any:
    if value < 0:
        raise v.Invalid("negative", "不能为负数")
    return value


def _passthrough(value: Any) -> Any:
    return value


CHECKS: dict[str, Callable[[Any], Any]] = {
    "id_number": v.id_number, "credit_code": v.credit_code, "mobile": v.mobile, "landline": v.landline,
    "email": v.email, "past_date": v.past_date, "postcode": _postcode, "geo": _geo,
    "bank_account": _bank_account, "non_negative": _non_negative,
    # references are resolved by the owning service, which knows the principal's scope
    "user_ref": _passthrough, "department_ref": _passthrough,
}


def _convert(spec: FieldSpec, raw: Any) -> Any:
    if spec.kind == "date":
        value = v.a_date(raw)
    elif spec.kind == "int":
        try:
            value = int(v.normalize_text(raw)) if not isinstance(raw, int) or isinstance(raw, bool) else raw
        except ValueError:
            raise v.Invalid("int_invalid", "应为整数") from None
    elif spec.kind == "decimal":
        try:
            value = Decimal(v.normalize_text(raw))
        except InvalidOperation:
            raise v.Invalid("decimal_invalid", "应为数字") from None
        if not value.is_finite() or abs(value) >= Decimal("1e16"):
            raise v.Invalid("decimal_range", "数值超出范围")
        value = value.quantize(Decimal("0.01"))
    elif spec.kind == "choice":
        text = v.normalize_text(raw)
        keys = dict(spec.choices)
        by_label = {label: key for key, label in spec.choices}
        if text in keys:
            value = text
        elif text in by_label:
            value = by_label[text]
        else:
            raise v.Invalid("invalid_choice", "可选值：" + "、".join(keys.values()))
    else:
        value = v.normalize_text(raw)
        if spec.max_length and len(value) > spec.max_length:
            raise v.Invalid("too_long", f"长度不能超过{spec.max_length}个字符")
    if spec.check:
        value = CHECKS[spec.check](value)
    return value


def clean(catalog: Catalog, entity: str, data: dict[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Normalised values for the given fields, or ValidationFailed listing every bad field.

    Empty strings mean "no value" (None). Unknown and read-only fields are errors, not ignored.
    """
    out, errors = check_all(catalog, entity, data, required=required)
    if errors:
        raise ValidationFailed(errors)
    return out


def check_all(catalog: Catalog, entity: str, data: dict[str, Any], *,
              required: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[FieldError]]:
    """The valid fields' normalised values and the errors of the others (so later rules can still run)."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, raw in data.items():
        key = f"{entity}.{name}"
        spec = catalog.fields.get(key)
        if spec is None:
            errors.append(FieldError(name, "unknown_field", "未知字段"))
            continue
        if not spec.writable:
            errors.append(FieldError(name, "read_only", f"“{spec.label}”由系统生成，不能填写"))
            continue
        if raw is None or (isinstance(raw, str) and v.normalize_text(raw) == ""):
            out[name] = None
            continue
        if isinstance(raw, (dict, list, bool)) or (isinstance(raw, str) and len(raw) > 20000):
            errors.append(FieldError(name, "invalid_type", f"“{spec.label}”的值类型错误"))
            continue
        try:
            out[name] = _convert(spec, raw)
        except v.Invalid as exc:
            errors.append(FieldError(name, exc.code, f"{spec.label}：{exc.message}"))
    for name in required:
        if out.get(name) is None and not any(e.field == name for e in errors):
            spec = catalog.get(entity, name)
            errors.append(FieldError(name, "required", f"请填写{spec.label}"))
    return out, errors
