"""Column mapping: file headers → catalogue fields, from the fields' own labels plus synonyms.

A target is `customer.<field>` (the archive), `contact.<field>` (one contact person per row, for
organisations), `consent.guardian_name` / `consent.guardian_relation` (the guardian of a minor, recorded
with the consent), or `archive_no` (the key of an existing archive to update). Everything else in the
file is ignored and listed as such in the preview.
"""
from __future__ import annotations

import re
import unicodedata

from kehu.catalog.registry import Catalog

ARCHIVE_NO = "archive_no"
#: Consent fields a column may fill: a minor's guardian (the rest of the consent is the job's declaration).
GUARDIAN = ("guardian_name", "guardian_relation")
#: Extra header spellings (after normalisation) → target. The catalogue labels need no entry.
SYNONYMS: dict[str, str] = {
    "客户名称": "customer.name", "客户姓名": "customer.name", "姓名": "customer.name", "名称": "customer.name",
    "公司名称": "customer.name", "企业名称": "customer.name", "单位名称": "customer.name",
    "手机号": "customer.mobile", "手机号码": "customer.mobile", "移动电话": "customer.mobile",
    "联系手机": "customer.mobile", "电话号码": "customer.mobile",
    "身份证": "customer.id_number", "身份证号码": "customer.id_number", "身份证号": "customer.id_number",
    "证件号码": "customer.id_number", "公民身份号码": "customer.id_number",
    "信用代码": "customer.uscc", "社会信用代码": "customer.uscc", "统一代码": "customer.uscc",
    "座机": "customer.landline", "电话": "customer.landline", "办公电话": "customer.landline",
    "固话": "customer.landline",
    "邮箱": "customer.email", "电子邮件": "customer.email", "email": "customer.email", "e-mail": "customer.email",
    "省": "customer.province", "省份/直辖市": "customer.province", "市": "customer.city",
    "区": "customer.district", "区县/区域": "customer.district", "县区": "customer.district",
    "地址": "customer.street", "详细地址": "customer.street", "街道": "customer.street", "联系地址": "customer.street",
    "通讯地址": "customer.street",
    "邮编": "customer.postcode", "职务": "customer.occupation", "职业": "customer.occupation",
    "单位": "customer.company", "公司": "customer.company",
    "所属行业": "customer.industry", "区域": "customer.region", "来源": "customer.source_channel",
    "客户来源": "customer.source_channel", "类型": "customer.kind", "客户类别": "customer.kind",
    "重要性": "customer.importance", "客户等级": "customer.importance", "生日": "customer.birth_date",
    "出生年月日": "customer.birth_date", "注册资本": "customer.registered_capital",
    "注册资金": "customer.registered_capital", "人数": "customer.headcount", "员工数": "customer.headcount",
    "开户行": "customer.bank_name", "银行卡号": "customer.bank_account", "账号": "customer.bank_account",
    "联系人": "contact.name", "联系人姓名": "contact.name", "联系人职务": "contact.title",
    "联系人手机": "contact.mobile", "联系人手机号": "contact.mobile", "联系人电话": "contact.landline",
    "联系人邮箱": "contact.email", "联系人电子邮箱": "contact.email",
    "监护人": "consent.guardian_name", "监护人关系": "consent.guardian_relation",
    "档案号": ARCHIVE_NO, "客户编号": ARCHIVE_NO, "档案编号": ARCHIVE_NO,
}
_NOISE = re.compile(r"[\s※*＊:：]|（必填）|\(必填\)")


def normalise(header: str) -> str:
    """A header as compared: NFKC, no spaces, required marks or colons, lower-case latin letters."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", header or "")).lower()


def targets(catalog: Catalog) -> dict[str, str]:
    """Every target a column may map to → its display label."""
    out = {ARCHIVE_NO: catalog.get("customer", "archive_no").label}
    for spec in catalog.writable("customer"):
        out[f"customer.{spec.name}"] = spec.label
    for spec in catalog.writable("contact"):
        out[f"contact.{spec.name}"] = "联系人" + spec.label.removeprefix("联系人")
    for name in GUARDIAN:
        out[f"consent.{name}"] = catalog.get("consent", name).label
    return out


def _lookup(catalog: Catalog) -> dict[str, str]:
    table = {}
    for target, label in targets(catalog).items():
        table[normalise(label)] = target
        table.setdefault(normalise(target.removeprefix("customer.").replace(".", "_")), target)  # mobile, contact_mobile
        # a label with a parenthesised unit also matches without it: 注册资本(万元) ← 注册资本
        table.setdefault(normalise(re.sub(r"[(（].*?[)）]", "", label)), target)
    for words, target in SYNONYMS.items():
        table[normalise(words)] = target
    return table


def auto(catalog: Catalog, header: list[str]) -> dict[int, str]:
    """Column index → target for the headers recognised; each target is used at most once."""
    table = _lookup(catalog)
    out: dict[int, str] = {}
    used: set[str] = set()
    for i, text in enumerate(header):
        target = table.get(normalise(text))
        if target and target not in used:
            out[i] = target
            used.add(target)
    return out


def score(catalog: Catalog):
    """A header-row rating for the reader: how many cells name a known column."""
    table = _lookup(catalog)
    return lambda cells: sum(1 for c in cells if normalise(c) in table)


def apply_saved(header: list[str], saved: dict[str, str], valid: dict[str, str]) -> dict[int, str]:
    """Column index → target from a saved mapping (header text → target); unknown targets dropped."""
    by_header = {normalise(k): v for k, v in saved.items()}
    out: dict[int, str] = {}
    used: set[str] = set()
    for i, text in enumerate(header):
        target = by_header.get(normalise(text))
        if target and target in valid and target not in used:
            out[i] = target
            used.add(target)
    return out
