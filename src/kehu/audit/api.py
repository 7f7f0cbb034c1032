"""REST adapter of the audit trail (审计员)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from fastapi import APIRouter, Query

from kehu.audit import service
from kehu.customers.api import Api

router = APIRouter(prefix="/api/v1/audit", tags=["audit 操作日志"])


@router.get("")
def query(call: Api, user: Annotated[Optional[str], Query(max_length=60)] = None,
          customer_no: Annotated[Optional[str], Query(max_length=20)] = None,
          action: Annotated[Optional[str], Query(max_length=40)] = None,
          since: Optional[datetime] = None, until: Optional[datetime] = None,
          before: Optional[int] = None, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """Audit entries, newest first."""
    return call.run("audit.query", lambda s, ctx: service.query(
        s, ctx, user=user, customer_no=customer_no, action=action, since=since, until=until, before=before,
        limit=limit))


@router.get("/verify")
def verify(call: Api) -> dict:
    """Verify the chain; names the first bad entry."""
    return call.run("audit.verify", lambda s, ctx: service.verify(s, ctx))
