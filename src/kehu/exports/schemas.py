"""Request bodies of the exports API."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from kehu.schemas import Strict


class ExportFilters(Strict):
    """The customer list's own filters (as `GET /api/v1/customers`)."""

    owner_id: Optional[str] = Field(default=None, max_length=32)
    department_id: Optional[str] = Field(default=None, max_length=32)
    status: Optional[str] = Field(default=None, max_length=10)
    kind: Optional[str] = Field(default=None, max_length=20)
    region: Optional[str] = Field(default=None, max_length=40)
    province: Optional[str] = Field(default=None, max_length=20)
    importance: Optional[str] = Field(default=None, max_length=10)
    tag: Optional[str] = Field(default=None, max_length=40, description="标签代码（有此标签的客户）")
    grade: Optional[str] = Field(default=None, max_length=1, description="客户等级 A/B/C/D")
    segment: Optional[str] = Field(default=None, max_length=32, description="我的客户分群编号（分群的成员）")


class ExportCreate(Strict):
    """An export: the list's search, filters and sort, the columns, the purpose and the format."""

    q: Optional[str] = Field(default=None, max_length=100, title="搜索")
    filters: ExportFilters = Field(default_factory=ExportFilters)
    sort: Literal["new", "old", "name", "archive_no", "updated"] = "new"
    fields: list[str] = Field(default_factory=list, max_length=60, title="导出字段（空：列表字段）")
    purpose: str = Field(max_length=200, title="导出用途（写入水印）")
    use: str = Field(max_length=20, title="用途类别：service/operations/analysis/marketing")
    format: Literal["csv", "xlsx"] = "csv"
    plaintext: bool = Field(default=False, title="一级字段明文导出（须经审批）")
    approval_id: Optional[str] = Field(default=None, max_length=32, title="已获批的审批编号")
