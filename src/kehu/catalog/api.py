"""REST adapter of the field catalogue."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from pydantic import Field

from kehu.access.policy import require_capability
from kehu.catalog import service
from kehu.customers.api import Api
from kehu.schemas import Strict

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 分类分级"])


class FieldChange(Strict):
    """A raised level and/or a new masking rule, with the reason."""

    level: Optional[int] = None
    mask: Optional[str] = Field(default=None, max_length=20)
    reason: str = Field(max_length=500)


@router.get("")
def listing(call: Api) -> list[dict]:
    """The catalogue: every field with level, category, masking, encryption, blind index, retention."""
    def go(s, ctx):
        require_capability(ctx.principal, "manage_catalog")
        return service.listing(ctx)
    return call.run("admin.catalog.list", go)


@router.patch("/{key}")
def change(call: Api, key: str, payload: FieldChange) -> dict:
    """Raise a field's level or change its masking."""
    return call.run("admin.catalog.change", lambda s, ctx: service.change(
        s, ctx, key=key, level=payload.level, mask=payload.mask, reason=payload.reason), target=key)
