"""REST adapter of follow-ups, communications and the customer timeline."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query

from kehu.customers.api import Api
from kehu.edge import body
from kehu.interactions import service
from kehu.interactions.schemas import CommunicationCreate, FollowUpCreate

router = APIRouter(prefix="/api/v1/customers", tags=["interactions 跟进与沟通"])
Cursor = Annotated[Optional[str], Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/{archive_no}/followups", status_code=201)
def add_followup(call: Api, archive_no: str, payload: FollowUpCreate) -> dict:
    """Record a follow-up (跟进记录) of a customer in scope."""
    return call.run("followup.create", lambda s, ctx: service.add(
        s, ctx, archive_no=archive_no, entity="followup", data=body(payload)), target=archive_no)


@router.get("/{archive_no}/followups")
def list_followups(call: Api, archive_no: str, cursor: Cursor = None, limit: Limit = 20) -> dict:
    """Follow-ups of a customer, newest first."""
    return call.run("followup.list", lambda s, ctx: service.timeline(
        s, ctx, archive_no=archive_no, cursor=cursor, limit=limit, only="followup"), target=archive_no)


@router.post("/{archive_no}/communications", status_code=201)
def add_communication(call: Api, archive_no: str, payload: CommunicationCreate) -> dict:
    """Record the minutes of a communication (沟通纪要) with a customer in scope."""
    return call.run("communication.create", lambda s, ctx: service.add(
        s, ctx, archive_no=archive_no, entity="communication", data=body(payload)), target=archive_no)


@router.get("/{archive_no}/communications")
def list_communications(call: Api, archive_no: str, cursor: Cursor = None, limit: Limit = 20) -> dict:
    """Communications of a customer, newest first."""
    return call.run("communication.list", lambda s, ctx: service.timeline(
        s, ctx, archive_no=archive_no, cursor=cursor, limit=limit, only="communication"), target=archive_no)


@router.get("/{archive_no}/timeline")
def timeline(call: Api, archive_no: str, cursor: Cursor = None, limit: Limit = 20) -> dict:
    """Follow-ups and communications of a customer together, newest first (keyset-paginated)."""
    return call.run("customer.timeline", lambda s, ctx: service.timeline(
        s, ctx, archive_no=archive_no, cursor=cursor, limit=limit), target=archive_no)
