"""REST adapter of leads (商机) and their stage definitions."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from pydantic import Field

from kehu.customers.api import Api
from kehu.edge import body
from kehu.leads import service
from kehu.schemas import Scalar, Strict, input_model

router = APIRouter(prefix="/api/v1", tags=["leads 商机"])
LeadCreate = input_model("lead", "Create")


class StageChange(Strict):
    """Move a lead to another stage."""

    stage: Scalar = Field(title="新阶段代码")
    reason: Optional[str] = Field(default=None, max_length=500, title="变更原因")


class StageDefinition(Strict):
    """A lead stage definition (code in the path)."""

    name: Optional[str] = Field(default=None, max_length=40, title="名称")
    sort_order: Optional[int] = Field(default=None, ge=0, le=10000, title="顺序")
    description: Optional[str] = Field(default=None, max_length=400, title="说明")
    active: Optional[bool] = Field(default=None, title="启用")


@router.get("/customers/{archive_no}/leads")
def list_leads(call: Api, archive_no: str) -> dict:
    """Leads of a customer in scope, each with its stage history."""
    return call.run("lead.list", lambda s, ctx: service.list_(s, ctx, archive_no=archive_no), target=archive_no)


@router.post("/customers/{archive_no}/leads", status_code=201)
def add_lead(call: Api, archive_no: str, payload: LeadCreate) -> dict:
    """Record a lead (商机) of a customer in scope."""
    return call.run("lead.create", lambda s, ctx: service.add(s, ctx, archive_no=archive_no, data=body(payload)),
                    target=archive_no)


@router.post("/leads/{lead_id}/stage")
def change_stage(call: Api, lead_id: str, payload: StageChange) -> dict:
    """Change a lead's stage; the change is kept (from, to, who, when, why)."""
    return call.run("lead.stage", lambda s, ctx: service.change_stage(
        s, ctx, lead_id=lead_id, stage=payload.stage, reason=payload.reason), target=lead_id)


@router.get("/lead-stages")
def list_stages(call: Api) -> dict:
    """Lead stage definitions, in order."""
    return call.run("lead.stages", lambda s, ctx: service.list_stages(s, ctx))


@router.put("/lead-stages/{code}")
def put_stage(call: Api, code: str, payload: StageDefinition) -> dict:
    """Create or change a stage definition (needs the manage_lead_stages capability)."""
    return call.run("lead.stage_definition", lambda s, ctx: service.put_stage(s, ctx, code=code, data=body(payload)),
                    target=code)
