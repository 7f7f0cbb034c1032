"""HTML adapter of the field catalogue (系统管理员): every field's level, masking, storage; raising a level."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from kehu.access.policy import require_capability
from kehu.catalog import service
from kehu.catalog.spec import LEVEL_NAMES
from kehu.errors import NotFound, ValidationFailed
from kehu.kit.masking import RULES
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)


def _listing(_session, ctx) -> list[dict]:
    require_capability(ctx.principal, "manage_catalog")
    return service.listing(ctx)


@router.get("/admin/catalog")
def catalog(call: Web) -> Response:
    """The whole catalogue, grouped by entity."""
    rows = call.run("admin.catalog.list", _listing)
    rows.sort(key=lambda r: r["entity"] != "customer")  # the archive's own fields first, then its records
    return call.page("catalog/list.html", rows=rows)


def _field_page(call: WebCall, key: str, *, problems: forms.Problems | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        row = next((r for r in _listing(s, ctx) if r["key"] == key), None)
        if row is None:
            raise NotFound()
        return row
    row = call.run("admin.catalog.list", go, target=key)
    levels = [lv for lv in LEVEL_NAMES if lv <= row["level"]]  # raising only: 1 is the most sensitive
    masks = [m for m in RULES if not (row["level"] == 1 and m == "none")]
    return call.page("catalog/edit.html", row=row, levels=levels, level_names=LEVEL_NAMES, masks=masks,
                     level=call.value("level") or str(row["level"]), mask=call.value("mask") or row["mask"],
                     problems=problems or forms.Problems(), reason=call.value("reason"), status=status)


@router.get("/admin/catalog/{key}")
def field_form(call: Web, key: str) -> Response:
    """Form to raise one field's level or change its masking rule."""
    return _field_page(call, key)


@router.post("/admin/catalog/{key}")
def change(call: Web, key: str) -> Response:
    """Apply the change (audited with its reason); effective on every user's next request."""
    level, mask = call.value("level"), call.value("mask")
    try:
        call.run("admin.catalog.change", lambda s, ctx: service.change(
            s, ctx, key=key, level=int(level) if level.isdigit() else None, mask=mask or None,
            reason=call.value("reason")), target=key)
    except ValidationFailed as exc:
        return _field_page(call, key, problems=forms.problems(exc, ["level", "mask", "reason"]), status=exc.status)
    return call.redirect(f"/admin/catalog?ok=saved#f-{key}")
