"""Field declarations, made on the model column itself so that there is no second list.

`field(...)` declares a customer-information field; `system(...)` declares a technical column
(keys, foreign keys, blind indexes, wrapped keys) that is never shown as customer data.
A column with neither is a test failure.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Date, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import mapped_column

LEVELS = (1, 2, 3)
LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级"}
ACTIONS = ("view", "reveal", "create", "modify", "delete", "export", "share")
ACTION_NAMES = {
    "view": "查看", "reveal": "查看明文", "create": "新建", "modify": "修改",
    "delete": "删除", "export": "导出", "share": "共享",
}
CATEGORIES = {
    "identity": "个人身份", "contact": "联系", "transaction": "交易", "preference": "偏好",
    "financial": "财务", "health": "健康", "location": "位置", "business": "企业经营",
    "management": "管理",
}
RETENTION = {
    "relationship": "合作关系存续期间及最后一次交易后2年",
    "consent": "至撤回同意时",
    "accounting": "会计资料，依法保存30年（仅存储，不得使用）",
    "archive": "随档案保存，档案销毁时删除",
}
KINDS = ("text", "date", "int", "decimal", "choice")
#: what erasure (a deletion request or expired retention) does to a field's value
ERASURE = {"erase": "删除", "anonymise": "匿名化（替换为占位值）", "keep": "保留（非个人信息或依法保存）"}
#: categories kept in storage-only (依法保存) records such as accounting documents; other fields are erased there too
STORAGE_ONLY_KEEPS = ("transaction", "management", "business")


@dataclass(frozen=True)
class FieldSpec:
    """The single declaration of one customer-information field."""

    entity: str
    name: str
    label: str
    level: int
    category: str
    mask: str = "none"
    encrypted: bool = False
    blind_index: str | None = None  # blind-index domain (e.g. "mobile") when exactly searchable
    retention: str = "archive"
    kind: str = "text"
    check: str | None = None  # validator name in kehu.catalog.validation
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    writable: bool = True  # False for derived/system-maintained fields (archive_no…)
    required: bool = False  # NOT NULL without a default: must be supplied on create
    help: str = ""
    erasure: str | None = None  # explicit erasure method; None = derived (see erasure_method)

    @property
    def erasure_method(self) -> str:
        """What erasure does to this field: explicit, else keep management data, anonymise required values, erase the rest."""
        if self.erasure:
            return self.erasure
        if self.category == "management":
            return "keep"
        return "anonymise" if self.required else "erase"

    @property
    def key(self) -> str:
        """Catalogue key 'entity.field'."""
        return f"{self.entity}.{self.name}"

    def with_overrides(self, **kw: Any) -> "FieldSpec":
        """The same declaration with administrator overrides (level, mask) applied."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


_TYPES = {"text": None, "date": Date, "int": Integer, "decimal": Numeric(18, 2), "choice": None}


def field(label: str, *, level: int, category: str, mask: str = "none", encrypt: bool = False,
          blind_index: str | None = None, retention: str = "archive", kind: str = "text",
          check: str | None = None, choices: tuple[tuple[str, str], ...] = (), length: int = 200,
          writable: bool = True, help: str = "", index: bool = False, nullable: bool = True,
          default: Any = None, unique: bool = False, erasure: str | None = None):
    """Declare a customer-information column together with its catalogue entry."""
    assert level in LEVELS and category in CATEGORIES and retention in RETENTION and kind in KINDS
    assert erasure is None or erasure in ERASURE
    if encrypt:
        coltype = LargeBinary
    elif kind in ("text", "choice"):
        coltype = Text if length > 1000 else String(length)
    else:
        coltype = _TYPES[kind]
    spec = dict(label=label, level=level, category=category, mask=mask, encrypted=encrypt,
                blind_index=blind_index, retention=retention, kind=kind, check=check,
                choices=tuple(choices), max_length=length if kind in ("text", "choice") else None,
                writable=writable, help=help, erasure=erasure)
    return mapped_column(coltype, nullable=nullable, index=index, unique=unique or None, default=default, info={"kehu_field": spec})


def system(*args: Any, why: str, **kw: Any):
    """Declare a technical column (never customer-visible); `why` documents its purpose."""
    info = kw.pop("info", {})
    return mapped_column(*args, info={**info, "kehu_system": why}, **kw)


def blind(of: str):
    """The blind-index column of an exactly-searchable encrypted field."""
    return mapped_column(LargeBinary(32), nullable=True, index=True,
                         info={"kehu_system": f"blind index of {of}", "kehu_blind_of": of})
