"""The one place where access decisions are made: scope of rows, state of each field, actions.

Display states: "plain" (value shown), "masked" (masking rule applied), "hidden" (omitted).
- no `view` grant at the field's effective level → hidden;
- level 1 → masked unless explicitly revealed (needs `reveal` at level 1 and a reason, audited);
- level 2/3 with a masking rule → plain only with `reveal` at that level, else masked;
- a field without a masking rule is plain once viewable.
The effective level of personal fields is 1 for customers under 14 (minors' data is sensitive).
"""
from __future__ import annotations

from datetime import date

from kehu.access.principal import Principal
from kehu.catalog.spec import FieldSpec
from kehu.errors import Forbidden

PERSONAL = frozenset({"identity", "contact", "preference", "location", "health", "financial"})
MINOR_AGE = 14


def is_minor(kind: str | None, birth_date: date | None, *, today: date | None = None) -> bool:
    """An individual younger than 14 years."""
    if kind != "individual" or birth_date is None:
        return False
    today = today or date.today()
    age = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    return age < MINOR_AGE


def effective_level(spec: FieldSpec, *, minor: bool = False) -> int:
    """The level used for decisions: the declared (or raised) level, 1 for a minor's personal data."""
    return 1 if minor and spec.category in PERSONAL else spec.level


def display_state(principal: Principal, spec: FieldSpec, *, minor: bool = False, revealed: bool = False) -> str:
    """'plain', 'masked' or 'hidden' for this principal and field."""
    level = effective_level(spec, minor=minor)
    if not principal.can("view", level):
        return "hidden"
    if revealed and principal.can("reveal", level):
        return "plain"
    if level == 1:
        return "masked"
    if spec.mask != "none" and not principal.can("reveal", level):
        return "masked"
    return "plain"


def may(principal: Principal, action: str, spec: FieldSpec, *, minor: bool = False) -> bool:
    """Whether the principal may perform a field action (create/modify/export/reveal…) on this field."""
    return principal.can(action, effective_level(spec, minor=minor))


def require_fields(principal: Principal, action: str, specs: list[FieldSpec], *, minor: bool = False) -> None:
    """Raise Forbidden naming every field the principal may not act on."""
    denied = [s for s in specs if not may(principal, action, s, minor=minor)]
    if denied:
        names = "、".join(s.label for s in denied)
        raise Forbidden(f"无权{_ACTION_ZH.get(action, action)}以下字段：{names}", code=f"forbidden_{action}")


def require_capability(principal: Principal, capability: str) -> None:
    """Raise Forbidden unless the principal holds the capability."""
    if not principal.has(capability):
        raise Forbidden()


def in_scope(principal: Principal, *, owner_id: str | None, department_id: str | None,
             importance: str | None = None) -> bool:
    """Whether a customer with this owner/department/importance is inside the principal's data scope."""
    if not principal.sees_customers:
        return False
    if importance is not None and importance not in principal.importance:
        return False
    if principal.scope == "all":
        return True
    if principal.scope == "department":
        return department_id in principal.department_ids or owner_id == principal.user_id
    return owner_id == principal.user_id


_ACTION_ZH = {"view": "查看", "reveal": "查看明文", "create": "填写", "modify": "修改", "delete": "删除",
              "export": "导出", "share": "共享"}
