"""What every adapter (API, web, CLI) shares: running one service call in one transaction as one principal.

Denied and not-found outcomes roll the operation back and are then audited in a transaction
of their own, so every refused attempt leaves a trace.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
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
    principal: Principal | None = None
    try:
        if write:
            with kehu.db.transaction() as session:
                principal, ctx = _ctx(kehu, session, token, ip)
                return fn(session, ctx)
        with kehu.db.reader() as session:
            principal, ctx = _ctx(kehu, session, token, ip)
            result = fn(session, ctx)
            if session.new or session.dirty or session.deleted:
                raise RuntimeError(f"read-only call {action} changed data")
            staged = kehu.audit.take_staged(session)
        if staged:
            kehu.audit_writer.submit(staged)
        return result
    except KehuError as exc:
        if principal is not None and exc.status in (403, 404):
            audit_refusal(kehu, principal=principal, ip=ip, action=action, target=target, error=exc)
        raise


def _ctx(kehu: Kehu, session: Session, token: str, ip: str | None) -> tuple[Principal, Ctx]:
    """Resolve the caller and build the call context, reading the security epoch once."""
    epoch = kehu.epoch(session)
    principal, _tok = access.resolve(session, kehu=kehu, token=token, epoch=epoch)
    return principal, Ctx(kehu=kehu, principal=principal, catalog=kehu.catalog(session, epoch), ip=ip, epoch=epoch)


def audit_refusal(kehu: Kehu, *, principal: Principal, ip: str | None, action: str, target: str | None,
                  error: KehuError) -> None:
    """Record a denied or not-found attempt (its own transaction)."""
    with kehu.db.transaction() as session:
        kehu.audit.stage(session, action=action, outcome="denied", actor_id=principal.user_id,
                         actor_name=principal.username, ip=ip, target_id=(target or "")[:64] or None,
                         detail={"code": error.code, "status": error.status})


class ApiCall:
    """Per-request handle given to API endpoints by the `api` dependency."""

    def __init__(self, request: Request, credentials: HTTPAuthorizationCredentials | None):
        self.kehu: Kehu = request.app.state.kehu
        self.token = credentials.credentials if credentials else None
        self.ip = client_ip(request)
        self.method = request.method

    def run(self, action: str, fn: Callable[[Session, Ctx], T], *, target: str | None = None) -> T:
        """Run one service call as the caller."""
        return run_as(self.kehu, token=self.token, ip=self.ip, action=action, fn=fn, target=target,
                      write=self.method not in ("GET", "HEAD"))


def body(model: Any) -> dict[str, Any]:
    """The fields a client actually sent."""
    return model.model_dump(exclude_unset=True)
