"""What every adapter (API, web, CLI) shares: running one service call in one transaction as one principal.

Denied and not-found outcomes roll the operation back and are then audited outside it (by the
audit group committer, durable before the refusal is answered), so every refused attempt leaves a trace.
Reads can also be awaited (`read_as`, `ApiCall.read`): same checks and audit, no worker-thread hop.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi import routing as fastapi_routing
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from kehu.access import service as access
from kehu.access.principal import Principal
from kehu.errors import KehuError, Unauthenticated
from kehu.runtime import Ctx, Kehu

T = TypeVar("T")
bearer = HTTPBearer(auto_error=False, description="`POST /api/v1/auth/token` 获得的令牌")


def client_ip(request: Request) -> str | None:
    """The peer address (no proxy headers are trusted by default)."""
    return request.client.host if request.client else None


def run_as(kehu: Kehu, *, token: str | None, ip: str | None, action: str,
           fn: Callable[[Session, Ctx], T], target: str | None = None, write: bool = True) -> T:
    """Authenticate, call `fn(session, ctx)` in one transaction, audit a refusal separately.

    `write=False` (reads): the work runs in a read transaction and its audit entries are
    committed by the group committer — still durable before this function returns.
    """
    if not token:
        raise Unauthenticated()
    caller: list[Principal] = []
    try:
        if write:
            with kehu.db.transaction() as session:
                principal, ctx = _ctx(kehu, session, token, ip)
                caller.append(principal)
                return fn(session, ctx)
        result, staged = _read(kehu, token, ip, action, fn, caller)
        if staged:
            kehu.audit_writer.submit(staged)
        return result
    except KehuError as exc:
        refusal = _refusal(kehu, caller, ip, action, target, exc)
        if refusal:
            kehu.audit_writer.submit(refusal)
        raise


async def read_as(kehu: Kehu, *, token: str | None, ip: str | None, action: str,
                  fn: Callable[[Session, Ctx], T], target: str | None = None) -> T:
    """`run_as(write=False)` for coroutines: the same checks and audit, no worker thread to wait in.

    The read runs on the event loop where the store makes that cheap (`Database.reads_on_loop`: SQLite),
    otherwise in a worker thread; the wait for the durable audit entries (and for a refusal's entry)
    is awaited, so the response still leaves only after they are committed.
    """
    if not token:
        raise Unauthenticated()
    caller: list[Principal] = []
    try:
        if kehu.db.reads_on_loop:
            result, staged = _read(kehu, token, ip, action, fn, caller)
        else:
            result, staged = await run_in_threadpool(_read, kehu, token, ip, action, fn, caller)
        if staged:
            await kehu.audit_writer.committed(staged)
        return result
    except KehuError as exc:
        refusal = _refusal(kehu, caller, ip, action, target, exc)
        if refusal:
            await kehu.audit_writer.committed(refusal)
        raise


def _read(kehu: Kehu, token: str, ip: str | None, action: str, fn: Callable[[Session, Ctx], T],
          caller: list[Principal]) -> tuple[T, list[dict]]:
    """`fn` in a read transaction: its result and the audit entries it staged (not yet committed)."""
    with kehu.db.reader() as session:
        principal, ctx = _ctx(kehu, session, token, ip)
        caller.append(principal)
        result = fn(session, ctx)
        # dirty or deleted objects are in the identity map; the plain-row reads leave it and `new` empty
        if (session.identity_map or session.new) and (session.new or session.dirty or session.deleted):
            raise RuntimeError(f"read-only call {action} changed data")
        return result, kehu.audit.take_staged(session)


def _ctx(kehu: Kehu, session: Session, token: str, ip: str | None) -> tuple[Principal, Ctx]:
    """Resolve the caller and build the call context, reading the security epoch once."""
    epoch = kehu.epoch(session)
    principal, _tok = access.resolve(session, kehu=kehu, token=token, epoch=epoch)
    return principal, Ctx(kehu=kehu, principal=principal, catalog=kehu.catalog(session, epoch), ip=ip, epoch=epoch)


def _refusal(kehu: Kehu, caller: list[Principal], ip: str | None, action: str, target: str | None,
             error: KehuError) -> list[dict]:
    """The audit entry of a denied or not-found attempt by a known caller (none for other errors)."""
    if not caller or error.status not in (403, 404):
        return []
    principal = caller[0]
    return [kehu.audit.entry(action=action, outcome="denied", actor_id=principal.user_id,
                             actor_name=principal.username, ip=ip, target_id=(target or "")[:64] or None,
                             detail={"code": error.code, "status": error.status})]


class ApiCall:
    """Per-request handle given to API endpoints by the `api` dependency."""

    def __init__(self, request: Request, token: str | None):
        self.kehu: Kehu = request.app.state.kehu
        self.token = token or None
        self.ip = client_ip(request)
        self.method = request.method

    def run(self, action: str, fn: Callable[[Session, Ctx], T], *, target: str | None = None,
            write: bool | None = None) -> T:
        """Run one service call as the caller (from a sync endpoint, in its worker thread).

        A write transaction except for GET/HEAD; `write=False` runs a POST's long read off the write lock."""
        return run_as(self.kehu, token=self.token, ip=self.ip, action=action, fn=fn, target=target,
                      write=self.method not in ("GET", "HEAD") if write is None else write)

    async def read(self, action: str, fn: Callable[[Session, Ctx], T], *, target: str | None = None) -> T:
        """Run one read-only service call as the caller, awaited (from an `async def` endpoint).

        For point reads whose work is bounded (one record and its children): on SQLite it runs on the
        event loop. Everything else about the call is `run_as`: principal, checks, audit, refusals.
        """
        return await read_as(self.kehu, token=self.token, ip=self.ip, action=action, fn=fn, target=target)


class ApiBearer(HTTPBearer):
    """The API's bearer-token security scheme; as a dependency it gives the request's `ApiCall`.

    The same scheme in OpenAPI as `bearer` (name, description); the token is read as `HTTPBearer` reads
    it, without building its credentials model and without a second dependency level per request.
    """

    def __init__(self):
        super().__init__(auto_error=False, scheme_name=bearer.scheme_name, description=bearer.model.description)

    async def __call__(self, request: Request) -> ApiCall:  # type: ignore[override]
        return ApiCall(request, bearer_token(request))


def bearer_token(request: Request) -> str | None:
    """The request's bearer token, read as `HTTPBearer` reads it (None without one)."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class DirectRoute(APIRoute):
    """An API route for hot reads that calls its endpoint straight, without FastAPI's per-request machinery.

    For an `async def` endpoint whose only parameters are string path parameters and the `ApiCall` of
    the bearer scheme (`ApiBearer`), and which returns a JSON-ready dict: the handler builds the call
    handle, passes the path parameters and renders the result with pydantic-core (as FastAPI renders a
    `dict` response), skipping dependency resolution and the re-validation of the returned dict. The
    route is declared as any other (same OpenAPI operation, exception handlers, middleware); a route not
    of that shape, or an app with dependency overrides (tests), gets FastAPI's own handler.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kw: Any):
        self._direct: Callable | None = None  # the direct handler of the route as declared (get_route_handler)
        super().__init__(path, endpoint, **kw)
        direct, framed = self._direct, self.app
        if direct is None or kw.get("max_body_size") is not None:
            return

        # One of the app's own routes (an included router builds its own app per inclusion, which keeps
        # FastAPI's frame): the direct handler without `request_response`'s frame — its exit stacks serve
        # dependencies with `yield` and uploads (this route has neither), and its exception wrapper does
        # what the app's ExceptionMiddleware does with the same handlers. With dependency overrides (tests),
        # FastAPI's frame and handler.
        async def app(scope, receive, send) -> None:
            request = Request(scope, receive, send)
            if request.app.dependency_overrides:
                await framed(scope, receive, send)
                return
            response = await direct(request)
            await response(scope, receive, send)

        self.app = app

    def get_route_handler(self):  # noqa: D102
        full = super().get_route_handler()
        # the route as included, with its routers' dependencies (FastAPI-internal: without it, a router
        # dependency could be missed, so the route keeps FastAPI's own handler)
        var = getattr(fastapi_routing, "_effective_route_context_var", None)
        if var is None:
            return full
        context = var.get()
        dependant = context.dependant if context is not None and context.original_route is self else self.dependant
        if not _direct_shape(dependant, self):
            return full
        endpoint, names = dependant.call, [f.name for f in dependant.path_params]
        scheme, call_name = dependant.dependencies[0].call, dependant.dependencies[0].name  # the ApiBearer

        async def handler(request: Request) -> Response:
            if request.app.dependency_overrides:
                return await full(request)
            params = request.path_params
            kwargs = {name: params[name] for name in names}
            kwargs[call_name] = await scheme(request)  # the call handle as the dependency would give it
            return Response(to_json(await endpoint(**kwargs)), status_code=self.status_code or 200,
                            media_type="application/json")

        if context is None:
            self._direct = handler
        return handler


def _direct_shape(dependant, route: APIRoute) -> bool:
    """Whether a route's parameters and response allow `DirectRoute`'s handler."""
    deps = dependant.dependencies
    response_class = getattr(route.response_class, "value", route.response_class)  # FastAPI's Default(…) or a class
    return (inspect.iscoroutinefunction(dependant.call)
            and len(deps) == 1 and isinstance(deps[0].call, ApiBearer) and not deps[0].dependencies
            and deps[0].name is not None
            and not (dependant.query_params or dependant.header_params or dependant.cookie_params
                     or dependant.body_params or dependant.request_param_name or dependant.response_param_name
                     or dependant.background_tasks_param_name)
            and all(f.field_info.annotation is str and not f.field_info.metadata for f in dependant.path_params)
            and route.response_model is dict and response_class is JSONResponse
            and route.response_model_include is None and route.response_model_exclude is None
            and not (route.response_model_exclude_unset or route.response_model_exclude_defaults
                     or route.response_model_exclude_none))


def body(model: Any) -> dict[str, Any]:
    """The fields a client actually sent."""
    return model.model_dump(exclude_unset=True)
