"""REST adapter of the 今日待办 list."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

from fastapi import APIRouter, Query

from kehu.care import service
from kehu.customers.api import Api

router = APIRouter(prefix="/api/v1", tags=["care 回访与关怀"])


@router.get("/todo")
def todo(call: Api, days: Annotated[Optional[int], Query(ge=0, le=366)] = None,
         on: Annotated[Optional[date], Query(description="默认今天")] = None) -> dict:
    """The caller's 今日待办: follow-ups due/overdue, return visits, birthdays and anniversaries, pool warnings."""
    return call.run("todo.list", lambda s, ctx: service.todo(s, ctx, today=on or date.today(), days=days))
