"""REST adapter of complaints (投诉)."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

from fastapi import APIRouter, Query, Response

from kehu.complaints import service
from kehu.complaints.schemas import ComplaintCreate, ComplaintStep
from kehu.customers.api import Api
from kehu.edge import body

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints 投诉"])
Cursor = Annotated[Optional[str], Query(max_length=40)]


@router.post("", status_code=201)
def register(call: Api, payload: ComplaintCreate, response: Response) -> dict:
    """Register a complaint (受理); the promised date defaults from the urgency (特急1天、急3天、一般7天)."""
    data = body(payload)
    customer_no = data.pop("customer_no", None)
    result = call.run("complaint.register", lambda s, ctx: service.register(
        s, ctx, customer_no=customer_no, data=data, today=date.today()), target=customer_no)
    response.headers["Location"] = f"/api/v1/complaints/{result['complaint_no']}"
    return result


@router.get("")
def list_complaints(call: Api, customer_no: Annotated[Optional[str], Query(max_length=20)] = None,
                    status: Annotated[Optional[str], Query(max_length=12)] = None, overdue: Optional[bool] = None,
                    as_of: Optional[date] = None, cursor: Cursor = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Complaints of customers in scope, newest first; `overdue=true`: open past the promised date as of a day."""
    return call.run("complaint.list", lambda s, ctx: service.list_(
        s, ctx, today=as_of or date.today(), customer_no=customer_no, status=status, overdue=overdue,
        cursor=cursor, limit=limit))


@router.get("/{complaint_no}")
def get_complaint(call: Api, complaint_no: str, as_of: Optional[date] = None) -> dict:
    """One complaint with its deadline state as of a day (default today)."""
    return call.run("complaint.read", lambda s, ctx: service.get(
        s, ctx, complaint_no=complaint_no, today=as_of or date.today()), target=complaint_no)


@router.post("/{complaint_no}/steps")
def apply_step(call: Api, complaint_no: str, payload: ComplaintStep) -> dict:
    """Apply a workflow step; 409 `invalid_transition` when the complaint is not in the step's starting state."""
    return call.run("complaint.step", lambda s, ctx: service.step(
        s, ctx, complaint_no=complaint_no, name=payload.step, data=dict(payload.data),
        today=payload.on or date.today()), target=complaint_no)
