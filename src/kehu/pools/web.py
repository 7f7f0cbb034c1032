"""HTML adapter of the public pool (公海): the pool list with claiming, and the pool rules for `manage_pool`."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.db import utcnow
from kehu.errors import Conflict, Forbidden, KehuError, NotFound, ValidationFailed
from kehu.interactions.tabs import columns, customers_only, message, rows
from kehu.pools import service
from kehu.pools.service import POOL_FIELDS
from kehu.web.errors import HtmlRoute
from kehu.web.session import CSRF_CODE, Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
Cursor = Annotated[Optional[str], Query(max_length=40)]


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entries: the pool for users who see customers, its rules for their managers."""
    items = [("nav.pool", "/pool")] if principal.sees_customers else []
    return items + ([("nav.pool_settings", "/admin/pool")] if principal.has("manage_pool") else [])


def _pool(call: WebCall, *, cursor: str | None = None, notice: str | None = None, status: int = 200) -> Response:
    def go(s, ctx):
        customers_only(ctx)
        return service.list_pool(s, ctx, cursor=cursor, limit=50)

    page = call.run("pool.list", go)
    specs = columns(call, "customer", POOL_FIELDS)
    more = f"/pool?cursor={page['next_cursor']}" if page["next_cursor"] else None
    return call.page("pools/list.html", rows=rows(call, specs, page["items"]), specs=specs, more=more,
                     notice=notice, status=status)


@router.get("/pool")
def pool(call: Web, cursor: Cursor = None) -> Response:
    """Customers in the public pool (non-sensitive fields), each with a claim button."""
    return _pool(call, cursor=cursor)


@router.post("/pool/{no}/claim")
def claim(call: Web, no: str) -> Response:
    """Claim a customer into one's private pool; the cap and cooldown refusals are shown on the pool page."""
    try:
        call.run("pool.claim", lambda s, ctx: service.claim(s, ctx, archive_no=no, now=utcnow()), target=no)
    except (Conflict, NotFound, Forbidden) as exc:
        if exc.code == CSRF_CODE or exc.code not in ("pool_cooldown", "pool_cap_reached", "not_in_pool"):
            raise
        return _pool(call, notice=exc.message, status=exc.status)
    return call.redirect(f"/customers/{no}?ok=claimed")


def _settings(call: WebCall, *, exc: KehuError | None = None) -> Response:
    def go(s, ctx):
        if not ctx.principal.has("manage_pool"):
            raise Forbidden()
        return service.get_settings(s, ctx)["items"]

    items = call.run("pool.settings", go)
    errors = {e.field: e.message for e in exc.errors} if isinstance(exc, ValidationFailed) else {}
    if exc is not None:
        for item in items:
            item["value"] = call.value(item["key"])
    return call.page("pools/settings.html", items=items, errors=errors,
                     notice=message(exc) if exc and not errors else None, status=exc.status if exc else 200)


@router.get("/admin/pool")
def settings(call: Web) -> Response:
    """Pool, return-visit and care rules."""
    return _settings(call)


@router.post("/admin/pool")
def save_settings(call: Web) -> Response:
    """Change the rules (integers; the service checks the range of each)."""
    keys = [k for k in (call.form.keys() if call.form is not None else []) if k != "csrf"]
    raw = {k: call.value(k).strip() for k in keys}
    values = {k: int(v) if v.isdigit() else v for k, v in raw.items()}  # the service names each invalid one
    try:
        call.run("pool.settings", lambda s, ctx: service.update_settings(s, ctx, values=values))
    except KehuError as exc:
        if exc.code == CSRF_CODE or not isinstance(exc, ValidationFailed):
            raise
        return _settings(call, exc=exc)
    return call.redirect("/admin/pool?ok=saved")
