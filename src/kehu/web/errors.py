"""Errors on web pages render HTML, never the API's JSON.

A record or page the user may not see gets exactly the page of a missing one (404 before 403),
except a failed CSRF check, which says so. `/api/…` keeps the API's JSON handlers.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kehu.errors import KehuError, Unauthenticated, ValidationFailed
from kehu.web.i18n import t
from kehu.web.render import render
from kehu.web.session import CSRF_CODE, SESSION_COOKIE, WebCall, to_login

log = logging.getLogger("kehu.web")


def error_page(request: Request, *, status: int, title: str, message: str) -> Response:
    """The error page, with the menu of the signed-in user when known (no item marked: it says nothing of the URL)."""
    call: WebCall | None = getattr(request.state, "web", None)
    principal = call.principal if call else None
    return render(request, "error.html", principal=principal, csrf=call.csrf if call else None, status=status,
                  title=title, message=message, path="")


def not_found_page(request: Request) -> Response:
    """The one 'not found' page: missing, out of scope and forbidden all look the same."""
    return error_page(request, status=404, title=t("error.not_found_title"), message=t("error.not_found"))


def error_response(request: Request, exc: Exception) -> Response:
    """The HTML answer to an error raised by a web handler."""
    if isinstance(exc, Unauthenticated):
        return to_login(request, expired=bool(request.cookies.get(SESSION_COOKIE)))
    if isinstance(exc, KehuError):
        if exc.code == CSRF_CODE:
            return error_page(request, status=403, title=t("error.csrf_title"), message=exc.message)
        if exc.status in (403, 404):
            return not_found_page(request)
        details = [e.message for e in exc.errors] if isinstance(exc, ValidationFailed) else []
        return error_page(request, status=exc.status, title=t("error.generic_title"),
                          message=t("common.list_sep").join(details) or exc.message)
    if isinstance(exc, RequestValidationError):
        return error_page(request, status=400, title=t("error.bad_request_title"), message=t("error.bad_request"))
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return not_found_page(request)
        return error_page(request, status=exc.status_code, title=t("error.generic_title"),
                          message=t("error.bad_request"))
    log.error("web handler failed: %s", type(exc).__name__, exc_info=exc)
    return error_page(request, status=500, title=t("error.internal_title"), message=t("error.internal"))


class HtmlRoute(APIRoute):
    """Route class of every web router: errors become HTML pages (the app's handlers stay JSON for the API)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The FastAPI handler wrapped so that any error renders an HTML page."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 — every failure becomes a page
                return await run_in_threadpool(error_response, request, exc)

        return route


def _page_for_status(request: Request, status: int) -> Response:
    """404/405 of an unknown web URL, with the user's menu when a session is valid."""
    call = WebCall(request, None)
    if call.token:
        try:
            call.run("web.page", lambda _s, _ctx: None)
        except KehuError:
            pass
    if status == 404:
        return not_found_page(request)
    return error_page(request, status=status, title=t("error.generic_title"), message=t("error.method"))


def install(app: FastAPI) -> None:
    """HTML pages for 404/405 outside the API (status handlers take precedence over the JSON class handler)."""
    async def by_status(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path == "/api" or request.url.path.startswith("/api/"):
            return await request.app.exception_handlers[StarletteHTTPException](request, exc)
        return await run_in_threadpool(_page_for_status, request, exc.status_code)

    app.add_exception_handler(404, by_status)
    app.add_exception_handler(405, by_status)
