"""Template rendering: one Jinja2 environment, the common page context and the security headers of HTML."""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kehu.access.principal import Principal
from kehu.web.i18n import has, local_tz, t, t_or
from kehu.web.view import display

PACKAGE = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE / "static"
#: No inline script or style anywhere: the pages work under a strict policy.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@lru_cache
def static_url(path: str) -> str:
    """URL of a static file with a content hash, so browsers may cache it."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    return f"/static/{path}?v={digest}"


def format_dt(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp (ISO text or datetime) in the locale's time zone."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(local_tz()).strftime(fmt)


def today_local() -> date:
    """Today's date in the locale's time zone."""
    return datetime.now(local_tz()).date()


def entity_label(entity: str) -> str:
    """Name of a kind of record ('联系人' for contact); the entity itself when the locale has none."""
    return t_or("entity." + entity, entity)


def nav_items(principal: Principal | None) -> list[tuple[str, str]]:
    """(text key, url) of the pages this principal may open, in menu order."""
    if principal is None:
        return []
    items = []
    if principal.sees_customers:
        items.append(("nav.customers", "/customers"))
    if principal.has("manage_users"):
        items += [("nav.users", "/admin/users"), ("nav.departments", "/admin/departments")]
    if principal.has("manage_roles"):
        items.append(("nav.roles", "/admin/roles"))
    if principal.has("manage_catalog"):
        items.append(("nav.catalog", "/admin/catalog"))
    if principal.has("read_audit"):
        items.append(("nav.audit", "/audit"))
    import importlib

    from kehu.app import PACKAGES

    for pkg in PAGE_PACKAGES + PACKAGES:  # a package's web.py may offer `nav(principal) -> [(key, url)]`
        nav = getattr(importlib.import_module(f"kehu.{pkg}.web"), "nav", None)
        if nav:
            items += nav(principal)
    return items


#: existing domain packages whose web.py holds pages (new packages are listed in kehu.app.PACKAGES)
PAGE_PACKAGES = ("interactions", "orders", "complaints", "surveys", "leads", "pools", "care")


env = Environment(loader=FileSystemLoader(PACKAGE / "templates"), autoescape=select_autoescape(("html",)),
                  trim_blocks=True, lstrip_blocks=True)
env.globals.update(t=t, t_or=t_or, static=static_url, show=display, entity_label=entity_label)
env.filters["dt"] = format_dt


def is_htmx(request: Request) -> bool:
    """A request made by HTMX (wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def hx_target(request: Request) -> str | None:
    """The id of the element an HTMX request will swap."""
    return request.headers.get("HX-Target") if is_htmx(request) else None


def render(request: Request, template: str, *, principal: Principal | None = None, csrf: str | None = None,
           status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """An HTML response from a template with the page frame's context."""
    ok = request.query_params.get("ok", "")
    nav = nav_items(principal)
    context.setdefault("path", request.url.path)  # marks the current menu item
    body = env.get_template(template).render(
        request=request, principal=principal, csrf=csrf, nav=nav,
        flash=t("flash." + ok) if ok and has("flash." + ok) else None, **context)
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.headers["Content-Security-Policy"] = CSP
    return response
