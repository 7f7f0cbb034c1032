"""Request bodies of questionnaires and surveys."""
from __future__ import annotations

from datetime import date
from typing import Optional

from pydantic import Field

from kehu.schemas import Scalar, Strict


class TemplateItem(Strict):
    """One item of a questionnaire."""

    code: Scalar = None
    label: Scalar = None


class TemplateCreate(Strict):
    """A new questionnaire."""

    code: Scalar = Field(default=None, title="问卷编码")
    name: Scalar = Field(default=None, title="问卷名称")
    items: list[TemplateItem] = Field(default_factory=list, max_length=50, title="调查项目")


class TemplateUpdate(Strict):
    """Rename or (de)activate a questionnaire."""

    name: Scalar = None
    active: Optional[bool] = None


class SurveySend(Strict):
    """Send a questionnaire to a customer (optionally for one of its complaints)."""

    customer_no: Optional[str] = Field(default=None, max_length=20)
    template: Optional[str] = Field(default=None, max_length=32, title="问卷编码（默认 default）")
    complaint_no: Optional[str] = Field(default=None, max_length=20)
    sent_on: Optional[date] = None


class SurveyAnswerBody(Strict):
    """The customer's answers: item code → score (1–5 or the level's name), and a comment."""

    answers: dict[str, Scalar] = Field(default_factory=dict, max_length=50)
    comment: Scalar = None
    answered_on: Optional[date] = None


class ScheduleRequest(Strict):
    """Run the scheduled surveys as of a day."""

    as_of: Optional[date] = None
    template: Optional[str] = Field(default=None, max_length=32)
