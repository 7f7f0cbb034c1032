"""The web UI: server-rendered Jinja2 + HTMX pages in Chinese, mounted on the app by `create_app()`.

Shared plumbing lives here (session cookie and CSRF, rendering, texts, error pages, generated forms);
each domain's pages are in `kehu/<domain>/web.py` with templates in `templates/<domain>/`.
"""
from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from kehu.web.render import STATIC_DIR


class CachedStatic(StaticFiles):
    """Static files; their URLs carry a content hash (render.static_url), so they may be cached."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file, cacheable for a day."""
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def mount(app: FastAPI) -> None:
    """Add the static files, the page routers and the HTML error pages to the app."""
    from kehu.access.web import router as access_pages
    from kehu.audit.web import router as audit_pages
    from kehu.catalog.web import router as catalog_pages
    from kehu.customers.web import router as customer_pages
    from kehu.web.auth import router as auth_pages
    from kehu.web.errors import install

    app.mount("/static", CachedStatic(directory=STATIC_DIR), name="static")
    for router in (auth_pages, customer_pages, access_pages, catalog_pages, audit_pages):
        app.include_router(router)
    import importlib

    from kehu.app import PACKAGES

    for pkg in ('interactions', 'orders', 'complaints', 'surveys', 'leads', 'pools', 'care') + PACKAGES:
        app.include_router(importlib.import_module(f"kehu.{pkg}.web").router)
    install(app)
