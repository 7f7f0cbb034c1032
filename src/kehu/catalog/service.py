"""Administration of the catalogue: view it, raise a field's level, change its masking."""
from __future__ import annotations

from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.catalog.models import CatalogOverride
from kehu.catalog.registry import declared
from kehu.catalog.spec import CATEGORIES, LEVEL_NAMES, RETENTION
from kehu.db import utcnow
from kehu.errors import FieldError, NotFound, ValidationFailed
from kehu.kit.masking import RULES
from kehu.runtime import Ctx, Kehu


def listing(ctx: Ctx) -> list[dict]:
    """Every declared field with its effective level, masking and storage."""
    base = declared()
    return [{
        "key": spec.key, "entity": spec.entity, "field": spec.name, "label": spec.label,
        "level": spec.level, "level_name": LEVEL_NAMES[spec.level], "declared_level": base[spec.key].level,
        "category": spec.category, "category_name": CATEGORIES[spec.category], "mask": spec.mask,
        "encrypted": spec.encrypted, "blind_index": bool(spec.blind_index), "retention": spec.retention,
        "retention_name": RETENTION[spec.retention], "required": spec.required,
    } for spec in ctx.catalog.fields.values()]


def change(session: Session, ctx: Ctx, *, key: str, level: int | None, mask: str | None, reason: str) -> dict:
    """Raise a field's level (only upward without a second approver) or change its masking rule."""
    require_capability(ctx.principal, "manage_catalog")
    spec = ctx.catalog.fields.get(key)
    if spec is None:
        raise NotFound()
    errors = []
    if level is not None and level not in LEVEL_NAMES:
        errors.append(FieldError("level", "invalid_level", "级别只能是1、2或3"))
    elif level is not None and level > spec.level:
        errors.append(FieldError("level", "level_lowering", "降低敏感级别需要第二审批人，此处只能提高级别"))
    if mask is not None and mask not in RULES:
        errors.append(FieldError("mask", "invalid_mask", "未知的脱敏规则"))
    if spec.level == 1 and mask == "none":
        errors.append(FieldError("mask", "mask_required", "一级信息必须脱敏显示"))
    if len((reason or "").strip()) < 2:
        errors.append(FieldError("reason", "reason_required", "请填写原因（至少2个字）"))
    if errors:
        raise ValidationFailed(errors)
    row = session.get(CatalogOverride, key) or CatalogOverride(key=key)
    before = {"level": spec.level, "mask": spec.mask}
    if level is not None:
        row.level = level
    if mask is not None:
        row.mask = mask
    row.changed_by, row.changed_at, row.reason = ctx.principal.user_id, utcnow(), reason.strip()
    session.add(row)
    Kehu.bump_epoch(session)
    ctx.audit(session, action="admin.catalog.change", target_type="field", target_id=key, reason=reason,
              detail={"before": before, "after": {"level": row.level or spec.level, "mask": row.mask or spec.mask}})
    return {"key": key, "level": level or spec.level, "mask": mask or spec.mask}
