"""Archive rules beyond single fields: required combinations (SPEC §1) and consistency."""
from __future__ import annotations

from typing import Any

from kehu.errors import FieldError
from kehu.kit import validate as v

INDIVIDUAL_ONLY = ("gender", "birth_date", "id_number")
ORGANISATION_ONLY = ("uscc", "registered_capital", "headcount", "operating_status", "main_business")


def check(state: dict[str, Any], present: dict[str, bool]) -> list[FieldError]:
    """Errors for the merged state of an archive.

    `state` holds plaintext values of the fields the rules need, `present` whether each
    field has a value (checked without decrypting).
    """
    errors: list[FieldError] = []
    kind = state.get("kind")
    if not present.get("name"):
        errors.append(FieldError("name", "required", "请填写姓名/名称"))
    if not (present.get("mobile") or present.get("landline")):
        errors.append(FieldError("mobile", "phone_required", "手机和固定电话至少填写一项"))
    if not present.get("street"):
        errors.append(FieldError("street", "required", "请填写街道地址"))
    if state.get("importance") == "key":
        if not present.get("occupation"):
            errors.append(FieldError("occupation", "required_for_key", "重要客户须填写职务"))
        if not present.get("email"):
            errors.append(FieldError("email", "required_for_key", "重要客户须填写电子邮箱"))
    if kind == "organisation":
        errors += [FieldError(f, "individual_only", "企业客户不填写此项") for f in INDIVIDUAL_ONLY if present.get(f)]
    elif kind == "individual":
        errors += [FieldError(f, "organisation_only", "个人客户不填写此项") for f in ORGANISATION_ONLY
                   if present.get(f)]
    id_number, birth = state.get("id_number"), state.get("birth_date")
    if id_number and birth and v.id_birth_date(id_number) != birth:
        errors.append(FieldError("birth_date", "id_birth_mismatch", "出生日期与身份证号不一致"))
    return errors
