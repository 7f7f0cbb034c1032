"""Request bodies of the approvals API."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from kehu.schemas import Strict


class DecisionRequest(Strict):
    """An approver's decision: a reason is optional when approving, required (≥ 2 characters) when rejecting."""

    reason: Optional[str] = Field(default=None, max_length=500, title="审批意见")
