"""Request bodies of complaints: registration generated from the catalogue; a step names itself."""
from __future__ import annotations

from datetime import date
from typing import Optional

from pydantic import Field

from kehu.schemas import Scalar, Strict, input_model

ComplaintCreate = input_model("complaint", "Create", (
    ("customer_no", Optional[str], Field(default=None, max_length=20, title="客户档案编号")),
))


class ComplaintStep(Strict):
    """One workflow step: investigate / countermeasure / handle / evaluate / close, with its fields."""

    step: str = Field(max_length=20, title="处理步骤")
    on: Optional[date] = Field(default=None, title="步骤日期（默认当天）")
    data: dict[str, Scalar] = Field(default_factory=dict, max_length=10, title="本步骤填写的字段")
