"""REST adapter of the public pool (公海) and its rules."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Body, Query

from kehu.customers.api import Api
from kehu.db import utcnow
from kehu.pools import service

router = APIRouter(prefix="/api/v1/pool", tags=["pool 公海"])


@router.get("")
def list_pool(call: Api, cursor: Annotated[Optional[str], Query(max_length=40)] = None,
              limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Customers in the public pool (non-sensitive fields, shown per the caller's rights)."""
    return call.run("pool.list", lambda s, ctx: service.list_pool(s, ctx, cursor=cursor, limit=limit))


@router.post("/{archive_no}/claim")
def claim(call: Api, archive_no: str) -> dict:
    """Claim a customer from the public pool into one's private pool (cap and cooldown apply)."""
    return call.run("pool.claim", lambda s, ctx: service.claim(s, ctx, archive_no=archive_no, now=utcnow()),
                    target=archive_no)


@router.get("/settings")
def get_settings(call: Api) -> dict:
    """Pool, return-visit and care rules."""
    return call.run("pool.settings", lambda s, ctx: service.get_settings(s, ctx))


@router.put("/settings")
def put_settings(call: Api, values: Annotated[dict[str, int], Body(max_length=50)]) -> dict:
    """Change rules, e.g. {"recycle_days.key": 90} (needs the manage_pool capability)."""
    return call.run("pool.settings", lambda s, ctx: service.update_settings(s, ctx, values=values))
