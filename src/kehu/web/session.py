"""The web session: the HttpOnly cookie holding a `kind="web"` token, the CSRF check and the per-request call.

Authentication is `kehu.edge.run_as` — the same path as the API; the cookie only carries the token.
The token row's `csrf` value must come back with every POST (form field or `X-CSRF-Token` header).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kehu.access import service as access
from kehu.config import Settings
from kehu.edge import client_ip, run_as
from kehu.errors import Forbidden, Unauthenticated
from kehu.runtime import Ctx
from kehu.web.i18n import t
from kehu.web.render import is_htmx, render

T = TypeVar("T")
SESSION_COOKIE = "kehu_session"
LOGIN_CSRF_COOKIE = "kehu_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_CODE = "csrf_failed"
SAFE_METHODS = ("GET", "HEAD")


def csrf_matches(expected: str | None, sent: str | None) -> bool:
    """Constant-time comparison of the expected and the submitted CSRF token."""
    return bool(expected and sent) and secrets.compare_digest(expected.encode(), sent.encode())


class WebCall:
    """Per-request handle of a web page: token from the cookie, posted form, principal, rendering."""

    def __init__(self, request: Request, form: FormData | None):
        self.request = request
        self.kehu = request.app.state.kehu
        self.token = request.cookies.get(SESSION_COOKIE)
        self.ip = client_ip(request)
        self.form = form
        self.principal = None
        self.catalog = None
        self.csrf: str | None = None
        request.state.web = self  # the error pages render the menu of the signed-in user

    def run(self, action: str, fn: Callable[[Session, Ctx], T], *, target: str | None = None,
            write: bool | None = None) -> T:
        """Run one service call as the signed-in user; a POST must carry the session's CSRF token.

        The call runs in a write transaction for a POST and in a read transaction for a GET; `write=False`
        runs a POST's long read (e.g. a count over the whole store) off the store's write lock."""
        writes = self.request.method not in SAFE_METHODS

        def checked(session: Session, ctx: Ctx) -> T:
            _principal, tok = access.resolve(session, kehu=self.kehu, token=self.token,
                                             epoch=ctx.epoch)  # cached: kind, csrf
            if tok.kind != "web":
                raise Unauthenticated()
            self.principal, self.catalog, self.csrf = ctx.principal, ctx.catalog, tok.csrf
            if writes and not csrf_matches(tok.csrf, self.sent_csrf()):
                raise Forbidden(t("error.csrf"), code=CSRF_CODE)
            return fn(session, ctx)

        return run_as(self.kehu, token=self.token, ip=self.ip, action=action, fn=checked, target=target,
                      write=writes if write is None else write)

    def sent_csrf(self) -> str | None:
        """The CSRF token the browser sent with this request."""
        return self.request.headers.get(CSRF_HEADER) or self.value(CSRF_FIELD) or None

    def value(self, name: str) -> str:
        """One posted text value ('' when absent)."""
        raw = self.form.get(name) if self.form is not None else None
        return raw if isinstance(raw, str) else ""

    def values(self, name: str) -> list[str]:
        """All posted text values of a repeated field (checkboxes)."""
        return [v for v in self.form.getlist(name) if isinstance(v, str)] if self.form is not None else []

    def page(self, template: str, *, status: int = 200, headers: dict[str, str] | None = None,
             **context: Any) -> HTMLResponse:
        """Render a page for the signed-in user."""
        return render(self.request, template, principal=self.principal, csrf=self.csrf, status=status,
                      headers=headers, catalog=self.catalog, **context)

    def redirect(self, url: str) -> Response:
        """See-other redirect after a successful POST (HTMX is told to navigate)."""
        if is_htmx(self.request):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)


async def web_call(request: Request) -> WebCall:
    """Dependency: the call handle, with the posted form read."""
    form = await request.form() if request.method not in SAFE_METHODS else None
    return WebCall(request, form)


Web = Annotated[WebCall, Depends(web_call)]


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, as long as the token lives."""
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_minutes * 60, httponly=True,
                        samesite="strict", secure=settings.secure_cookies, path="/")


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=settings.secure_cookies)


def safe_next(value: str | None) -> str:
    """A local path to continue to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def to_login(request: Request, *, expired: bool) -> Response:
    """Send an unauthenticated browser to the login page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    nxt = here if request.method in SAFE_METHODS and not is_htmx(request) else "/"
    url = "/login?next=" + quote(safe_next(nxt), safe="") + ("&expired=1" if expired else "")
    if is_htmx(request):
        response: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if expired:
        clear_session_cookie(response, request.app.state.kehu.settings)
    return response
