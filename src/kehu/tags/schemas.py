"""Request bodies of the tags API."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TagCreate(_Body):
    code: str = Field(max_length=40)
    name: str = Field(max_length=60)
    family: str = Field(max_length=12)
    description: Optional[str] = Field(None, max_length=500)
    department_id: Optional[str] = Field(None, max_length=32)
    mode: Optional[str] = Field(None, max_length=8)
    exclusive_group: Optional[str] = Field(None, max_length=30)
    contradiction: Optional[str] = Field(None, max_length=4000)
    expression: Optional[str] = Field(None, max_length=4000)
    note: Optional[str] = Field(None, max_length=500)


class RuleDraft(_Body):
    expression: str = Field(max_length=4000)
    note: Optional[str] = Field(None, max_length=500)


class DryRun(_Body):
    expression: Optional[str] = Field(None, max_length=4000)
    version: Optional[int] = None


class Settings(_Body):
    params: dict[str, int] = {}
    grade: dict[str, int] = {}
    #: the scheduled full evaluation: `period` (quarterly, monthly, weekly, daily, off) and `hour` (0–23)
    schedule: dict[str, str | int] = {}


class ManualTag(_Body):
    on: bool = True
    reason: str = Field(max_length=500)


class SampleRequest(_Body):
    size: int = Field(10, ge=1, le=200)


class ReviewOutcome(_Body):
    correct: bool
    note: Optional[str] = Field(None, max_length=500)


class SegmentSave(_Body):
    name: str = Field(max_length=60)
    description: Optional[str] = Field(None, max_length=500)
    expression: str = Field(max_length=4000)


class SegmentExport(_Body):
    purpose: str = Field(max_length=200, title="导出用途（写入水印）")
    use: str = Field("marketing", max_length=20, title="用途类别：service/operations/analysis/marketing（营销须有同意）")
    format: Literal["csv", "xlsx"] = "xlsx"
    fields: list[str] = Field(default_factory=list, max_length=60, title="导出字段（空：列表字段）")
