"""Request schemas generated from the catalogue (no second list of fields)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from kehu.catalog.registry import declared
from kehu.catalog.spec import LEVEL_NAMES

# bool is listed so that JSON true/false arrive as booleans and are refused by the catalogue validation,
# instead of being coerced to 1/0 by the int branch of the union
Scalar = Optional[bool | str | int | float]


class Strict(BaseModel):
    """Base of request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


def _describe(spec) -> str:
    text = f"{LEVEL_NAMES[spec.level]}信息 · {spec.category}"
    if spec.choices:
        text += " · 可选值：" + "，".join(f"{k}={v}" for k, v in spec.choices)
    return text + (f" · {spec.help}" if spec.help else "")


@lru_cache
def input_model(entity: str, suffix: str, extra: tuple[tuple[str, Any, Any], ...] = ()) -> type[BaseModel]:
    """Pydantic model of the writable fields of an entity (values validated later by the catalogue)."""
    fields: dict[str, Any] = {
        s.name: (Scalar, Field(default=None, title=s.label, description=_describe(s)))
        for s in declared().values() if s.entity == entity and s.writable
    }
    for name, typ, default in extra:
        fields[name] = (typ, default)
    return create_model(f"{entity.title()}{suffix}", __base__=Strict, **fields)


class ConsentInput(Strict):
    """The legal basis of a collection (PIPL): purposes, channel, notice, the separate sensitive consent, guardian."""

    purposes: list[str] = Field(default_factory=list, max_length=20, title="处理目的（代码）")
    channel: Optional[str] = Field(default=None, max_length=20, title="收集渠道")
    notice_version: Optional[str] = Field(default=None, max_length=20, title="隐私政策版本（默认当前版本）")
    sensitive: bool = Field(default=False, title="敏感个人信息（一级）单独同意")
    scope: Optional[list[str]] = Field(default=None, max_length=20, title="信息范围（信息类别代码）")
    guardian_name: Optional[str] = Field(default=None, max_length=60, title="监护人姓名（不满十四周岁）")
    guardian_relation: Optional[str] = Field(default=None, max_length=12, title="与监护人关系")
    note: Optional[str] = Field(default=None, max_length=500, title="说明")


REASON = ("reason", Optional[str], Field(default=None, max_length=500, title="原因"))
CONSENT = ("consent", Optional[ConsentInput], Field(default=None, title="告知同意记录"))
ContactCreate = input_model("contact", "Create")
AddressCreate = input_model("address", "Create")
AnniversaryCreate = input_model("anniversary", "Create")
RelationCreate = input_model("relation", "Create")
CustomerCreate = input_model("customer", "Create", (
    REASON, CONSENT,
    ("contacts", list[ContactCreate], Field(default_factory=list)),
    ("addresses", list[AddressCreate], Field(default_factory=list)),
    ("anniversaries", list[AnniversaryCreate], Field(default_factory=list)),
    ("relations", list[RelationCreate], Field(default_factory=list)),
))
CustomerUpdate = input_model("customer", "Update", (
    REASON, CONSENT, ("version", Optional[int], Field(default=None, title="版本号（乐观锁）")),
))
CHILD_CREATE = {"contact": ContactCreate, "address": AddressCreate, "anniversary": AnniversaryCreate,
                "relation": RelationCreate}


class RevealRequest(Strict):
    """Fields to show in plain text, with the reason (audited)."""

    fields: list[str] = Field(min_length=1, max_length=20)
    reason: str = Field(max_length=500)
    entity: str = "customer"
    record_id: Optional[str] = None


class TokenRequest(Strict):
    """Username and password."""

    username: str = Field(max_length=60)
    password: str = Field(max_length=200)


class ReasonRequest(Strict):
    """A reason for an operation that needs one."""

    reason: str = Field(max_length=500)
