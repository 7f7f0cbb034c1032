"""Request bodies of the privacy API."""
from __future__ import annotations

from datetime import date
from typing import Literal, Optional

from pydantic import Field

from kehu.schemas import Strict


class RequestCreate(Strict):
    """A rights request received from a data subject."""

    customer_no: str = Field(max_length=20, title="档案编号")
    kind: str = Field(max_length=12, title="请求类型 access/copy/correction/deletion/withdrawal/explanation")
    received_on: Optional[date] = Field(default=None, title="受理日期（默认今天）")
    channel: Optional[str] = Field(default=None, max_length=40, title="受理渠道")
    working_days: int = Field(default=15, ge=1, le=60, title="答复期限（工作日）")


class Verify(Strict):
    """How the requester's identity was verified."""

    method: str = Field(max_length=20, title="核验方式")


class Outcome(Strict):
    """What was done (completion)."""

    outcome: str = Field(max_length=1000, title="办理结果")


class Reason(Strict):
    """A mandatory reason (rejection, hold, destruction)."""

    reason: str = Field(max_length=1000, title="原因")


class DestructionCreate(Strict):
    """Destroy a whole archive (销毁) — executed after a second person's approval."""

    customer_no: str = Field(max_length=20, title="档案编号")
    reason: str = Field(max_length=1000, title="原因")


class HoldCreate(Strict):
    """A legal hold on one customer (or, without customer, on all destruction)."""

    customer_no: Optional[str] = Field(default=None, max_length=20, title="档案编号（空：全部）")
    reason: str = Field(max_length=1000, title="原因")


class ShareCreate(Strict):
    """A share with a third party."""

    recipient: str = Field(max_length=200, title="接收方")
    purpose: str = Field(max_length=1000, title="目的")
    fields: list[str] = Field(max_length=60, title="字段")
    customer_nos: list[str] = Field(max_length=1000, title="客户档案编号")
    legal_basis: str = Field(max_length=20, title="合法性基础")
    agreement_ref: str = Field(max_length=100, title="保密协议编号")
    expires_on: date = Field(title="有效期至")


class CalendarDaySet(Strict):
    """A public holiday or an adjusted working day; `kind` null clears the day."""

    kind: Optional[Literal["holiday", "workday"]] = None
    note: Optional[str] = Field(default=None, max_length=60)
