"""create_app(): the API and web routers, error handlers and response headers."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kehu import __version__
from kehu.errors import FieldError, KehuError
from kehu.runtime import Kehu

log = logging.getLogger("kehu")

#: packages added after the foundation, each with api.py (router, optional install(kehu)), web.py, cli.py
PACKAGES = ('reports', 'imports', 'consent', 'intake', 'approvals', 'exports', 'tags', 'supervision', 'ops', 'privacy')

_PYDANTIC_ZH = {
    "missing": "必填", "extra_forbidden": "不允许的字段", "string_too_long": "内容过长",
    "string_type": "应为文本", "int_parsing": "应为整数", "int_type": "应为整数", "bool_parsing": "应为是/否",
    "list_type": "应为列表", "too_short": "内容过少", "too_long": "内容过多", "json_invalid": "JSON 格式错误",
    "string_pattern_mismatch": "格式不符", "greater_than_equal": "数值过小", "less_than_equal": "数值过大",
    "datetime_from_date_parsing": "日期时间格式错误", "datetime_parsing": "日期时间格式错误",
    "model_attributes_type": "应为对象", "dict_type": "应为对象", "float_parsing": "应为数字",
}


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


class SecurityHeaders:
    """Pure ASGI middleware: no-store caching (unless a route set its own) and hardening headers."""

    FIXED = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
    DEFAULTS = ((b"cache-control", b"no-store"), (b"x-frame-options", b"DENY"))
    _FIXED_NAMES = frozenset(k for k, _v in FIXED)

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._FIXED_NAMES]
                present = {k.lower() for k, _ in headers}
                headers += [h for h in self.DEFAULTS if h[0] not in present] + list(self.FIXED)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(kehu: Kehu | None = None) -> FastAPI:
    """The ASGI application over one runtime (created from settings when not given)."""
    kehu = kehu or Kehu()
    # FastAPI's native OpenTelemetry instrumentation stays off: it would export request spans, metrics and logs
    # (paths carry archive numbers, with client addresses) to whatever collector the environment names — data
    # leaving Kehu outside its presenter and audit — and it checks the global providers on every request
    app = FastAPI(title="Kehu 客户信息管理系统 API", version=__version__,
                  description="隐私优先的客户信息管理系统。个人信息接口均返回 `Cache-Control: no-store`。",
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.kehu = kehu

    from kehu.access.api import router as access_router
    from kehu.audit.api import router as audit_router
    from kehu.catalog.api import router as catalog_router
    from kehu.customers.api import add_detail_route as add_customer_detail_route, router as customers_router
    from kehu.interactions.api import router as interactions_router
    from kehu.orders.api import router as orders_router
    from kehu.care.api import router as care_router
    from kehu.leads.api import router as leads_router
    from kehu.pools.api import router as pools_router
    from kehu.complaints.api import router as complaints_router
    from kehu.surveys.api import router as surveys_router
    from kehu.surveys.service import install as install_surveys

    # the archive first: routing tries the routers in order, and its reads are the most frequent requests
    add_customer_detail_route(app)
    for router in (customers_router, access_router, catalog_router, audit_router, interactions_router,
                   orders_router, care_router, leads_router, pools_router):
        app.include_router(router)
    app.include_router(complaints_router)
    app.include_router(surveys_router)
    install_surveys(kehu)  # complaint.handled → satisfaction survey
    import importlib

    for pkg in PACKAGES:  # each package's JSON API, then its start-up hook (event subscribers) if any
        module = importlib.import_module(f"kehu.{pkg}.api")
        app.include_router(module.router)
        install = getattr(module, "install", None)
        if install:
            install(kehu)
    try:
        from kehu.web import mount as mount_web
    except ImportError:  # web UI not installed
        mount_web = None
    if mount_web:
        mount_web(app)

    @app.exception_handler(KehuError)
    async def kehu_error(_request: Request, exc: KehuError):
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError):
        errors = [FieldError(_field_name(tuple(e.get("loc", ()))), e.get("type", "invalid"),
                             _PYDANTIC_ZH.get(e.get("type", ""), "输入无效")).as_dict() for e in exc.errors()]
        return JSONResponse({"code": "validation_failed", "message": "输入有误，请检查标注的字段", "errors": errors},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "http_error")
        msg = {404: "未找到该记录", 405: "不支持的请求方法", 401: "请先登录"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"code": code, "message": msg}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception):
        log.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse({"code": "internal_error", "message": "系统内部错误"}, status_code=500)

    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"ok": True}

    return app
