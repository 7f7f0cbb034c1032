"""HTML adapter of the 今日待办 list (also shown on the home page)."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.access.principal import Principal
from kehu.care import service
from kehu.interactions.tabs import customers_only
from kehu.runtime import Ctx
from kehu.web.errors import HtmlRoute
from kehu.web.render import today_local
from kehu.web.session import Web

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)


def nav(principal: Principal) -> list[tuple[str, str]]:
    """Menu entry: 今日待办 for users who see customers."""
    return [("nav.todo", "/todo")] if principal.sees_customers else []


def todo_of(session: Any, ctx: Ctx, *, today: date) -> dict[str, Any]:
    """The caller's 今日待办 (the home page shows it too)."""
    customers_only(ctx)
    return service.todo(session, ctx, today=today)


@router.get("/todo")
def todo(call: Web, on: Annotated[Optional[date], Query()] = None) -> Response:
    """Follow-ups due and overdue, planned return visits, birthdays and anniversaries, pool warnings."""
    day = on or today_local()
    found = call.run("todo.list", lambda s, ctx: todo_of(s, ctx, today=day))
    return call.page("care/todo.html", found=found, day=day)
