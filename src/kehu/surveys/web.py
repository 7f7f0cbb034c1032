"""Web pages of `kehu.surveys`."""
from __future__ import annotations

from fastapi import APIRouter

from kehu.web.errors import HtmlRoute

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
