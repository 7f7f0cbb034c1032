"""Login, logout and the landing page."""
from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from kehu.access import service as access
from kehu.access.principal import Principal
from kehu.edge import client_ip
from kehu.web.errors import HtmlRoute
from kehu.web.i18n import t
from kehu.web.render import nav_items, render
from kehu.web.session import (LOGIN_CSRF_COOKIE, Web, clear_session_cookie, csrf_matches, safe_next,
                              set_session_cookie)

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
NOTICES = {"expired": "login.expired", "bye": "login.bye"}


async def read_form(request: Request) -> FormData:
    """Dependency: the posted form."""
    return await request.form()


def landing(principal: Principal) -> str | None:
    """The first page of a user's menu (customers for staff, their own pages for admin and auditor)."""
    items = nav_items(principal)
    return items[0][1] if items else None


@router.get("/")
def home(call: Web) -> Response:
    """The home page with the user's 今日待办 (users who see customers); others go to their first page."""
    from kehu.care.web import todo_of
    from kehu.web.render import today_local

    if not call.token:
        return RedirectResponse("/login", status_code=303)
    day = today_local()
    found = call.run("web.home", lambda s, ctx: todo_of(s, ctx, today=day) if ctx.principal.sees_customers else None)
    if found is not None:
        return call.page("home.html", found=found, day=day)
    url = landing(call.principal)
    return RedirectResponse(url, status_code=303) if url else call.page("home.html", found=None)


def _login_page(request: Request, *, next_url: str, username: str = "", error: str | None = None,
                notice: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", login_csrf=token, next_url=next_url, username=username,
                      error=error, notice=notice, status=status)
    settings = request.app.state.kehu.settings
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=settings.secure_cookies, path="/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/", expired: bool = False, bye: bool = False) -> Response:
    """The login form (a fresh pre-session CSRF token in a cookie and in the form)."""
    notice = t(NOTICES["expired"]) if expired else t(NOTICES["bye"]) if bye else None
    return _login_page(request, next_url=safe_next(next), notice=notice)


@router.post("/login")
def login(request: Request, form: Annotated[FormData, Depends(read_form)]) -> Response:
    """Check the password (lock-out and audit by the access service) and open a web session."""
    kehu = request.app.state.kehu
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or "/"))
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf") or "")):
        return _login_page(request, next_url=next_url, username=username, error=t("login.csrf"), status=403)
    with kehu.db.transaction() as session:
        result = access.login(session, kehu=kehu, username=username, password=password, ip=client_ip(request),
                              kind="web")
        if not result.error and next_url == "/":
            next_url = landing(access.build_principal(session, result.user)) or "/"
    if result.error:
        return _login_page(request, next_url=next_url, username=username, error=result.error.message, status=401)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, result.token, kehu.settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(call: Web) -> Response:
    """End the session: the token stops working at once."""
    if call.token:
        call.run("auth.logout", lambda s, _ctx: access.logout(s, kehu=call.kehu, token=call.token, ip=call.ip))
    response = RedirectResponse("/login?bye=1", status_code=303)
    clear_session_cookie(response, call.kehu.settings)
    return response

