"""REST adapter: token login/logout and administration of users, departments and roles."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Request
from pydantic import Field

from kehu.access import repository as repo
from kehu.access import service
from kehu.access.models import CAPABILITIES, SCOPES
from kehu.access.policy import require_capability
from kehu.customers.api import Api
from kehu.edge import client_ip
from kehu.errors import Unauthenticated
from kehu.schemas import Strict, TokenRequest

router = APIRouter(prefix="/api/v1", tags=["access 用户与授权"])


@router.post("/auth/token")
def token(request: Request, payload: TokenRequest) -> dict:
    """Exchange username and password for a bearer token (failures audited; lock-out after repeats)."""
    kehu = request.app.state.kehu
    with kehu.db.transaction() as session:
        result = service.login(session, kehu=kehu, username=payload.username, password=payload.password,
                               ip=client_ip(request))
        user = result.user
        out = None if result.error else {"access_token": result.token, "token_type": "bearer",
                                         "expires_in": kehu.settings.session_minutes * 60,
                                         "user": {"id": user.id, "username": user.username,
                                                  "display_name": user.display_name, "role": user.role.code}}
    if result.error:
        raise result.error
    return out


@router.delete("/auth/token")
def revoke(call: Api) -> dict:
    """Log out: the token stops working immediately."""
    if not call.token:
        raise Unauthenticated()
    with call.kehu.db.transaction() as session:
        service.logout(session, kehu=call.kehu, token=call.token, ip=call.ip)
    return {"ok": True}


@router.get("/me")
def me(call: Api) -> dict:
    """The caller's identity, role, scope and grants."""
    def go(s, ctx):
        p = ctx.principal
        return {"id": p.user_id, "username": p.username, "display_name": p.display_name, "role": p.role_code,
                "role_name": p.role_name, "scope": p.scope, "capabilities": sorted(p.capabilities),
                "grants": sorted(f"{a}@{lv}" for a, lv in p.grants)}
    return call.run("me", go)


def _user(u) -> dict:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role.code,
            "department_id": u.department_id, "active": u.active,
            "locked": bool(u.locked_until), "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}


class UserCreate(Strict):
    """A new employee account."""

    username: str = Field(max_length=40)
    display_name: str = Field(max_length=60)
    password: str = Field(max_length=200)
    role: str = Field(max_length=40)
    department_id: Optional[str] = Field(default=None, max_length=32)


class UserUpdate(Strict):
    """Changes to an account."""

    role: Optional[str] = Field(default=None, max_length=40)
    department_id: Optional[str] = Field(default=None, max_length=32)
    active: Optional[bool] = None
    password: Optional[str] = Field(default=None, max_length=200)
    unlock: bool = False


class RoleCreate(Strict):
    """A new role (no grants: default deny)."""

    code: str = Field(max_length=40)
    name: str = Field(max_length=60)
    scope: str = Field(max_length=12, description="own | department | all")
    capabilities: list[str] = Field(default_factory=list, max_length=50)


class GrantsUpdate(Strict):
    """The complete set of a role's grants, as 'action@level' strings, and optionally its scope."""

    grants: list[Annotated[str, Field(max_length=20)]] = Field(max_length=30)
    scope: Optional[str] = Field(default=None, max_length=12)
    importance: Optional[list[Annotated[str, Field(max_length=10)]]] = Field(
        default=None, max_length=3, description="customer classes the role may see: normal / core / key")


class DepartmentCreate(Strict):
    """A new department."""

    name: str = Field(max_length=60)
    parent_id: Optional[str] = Field(default=None, max_length=32)


@router.get("/users", tags=["admin"])
def list_users(call: Api) -> list[dict]:
    """All accounts (系统管理员)."""
    def go(s, ctx):
        require_capability(ctx.principal, "manage_users")
        return [_user(u) for u in repo.list_users(s)]
    return call.run("admin.user.list", go)


@router.post("/users", status_code=201, tags=["admin"])
def create_user(call: Api, payload: UserCreate) -> dict:
    """Add an account."""
    return call.run("admin.user.create", lambda s, ctx: _user(service.create_user(
        s, ctx, username=payload.username, display_name=payload.display_name, password=payload.password,
        role_code=payload.role, department_id=payload.department_id)))


@router.patch("/users/{user_id}", tags=["admin"])
def update_user(call: Api, user_id: str, payload: UserUpdate) -> dict:
    """Change an account; effective on the user's next request."""
    return call.run("admin.user.update", lambda s, ctx: _user(service.update_user(
        s, ctx, user_id=user_id, role_code=payload.role, department_id=payload.department_id,
        active=payload.active, password=payload.password, unlock=payload.unlock)), target=user_id)


def _role(r) -> dict:
    return {"id": r.id, "code": r.code, "name": r.name, "scope": r.scope, "builtin": r.builtin,
            "capabilities": sorted(r.capability_set), "importance": sorted(r.importance_set), "grants": sorted(f"{g.action}@{g.level}" for g in r.grants)}


@router.get("/roles", tags=["admin"])
def list_roles(call: Api) -> dict:
    """Roles with scope, capabilities and grants."""
    def go(s, ctx):
        require_capability(ctx.principal, "manage_roles")
        return {"roles": [_role(r) for r in repo.list_roles(s)], "scopes": dict(SCOPES),
                "capabilities": CAPABILITIES}
    return call.run("admin.role.list", go)


@router.post("/roles", status_code=201, tags=["admin"])
def create_role(call: Api, payload: RoleCreate) -> dict:
    """Add a role."""
    return call.run("admin.role.create", lambda s, ctx: _role(service.create_role(
        s, ctx, code=payload.code, name=payload.name, scope=payload.scope, capabilities=payload.capabilities)))


@router.put("/roles/{code}/grants", tags=["admin"])
def set_grants(call: Api, code: str, payload: GrantsUpdate) -> dict:
    """Replace a role's grants; effective on every holder's next request."""
    from kehu.errors import FieldError, ValidationFailed

    pairs = []
    for g in payload.grants:
        action, _, level = g.partition("@")
        if not level.isdigit():
            raise ValidationFailed([FieldError("grants", "invalid_grant", f"授权格式应为 动作@级别：{g}")])
        pairs.append((action, int(level)))
    return call.run("admin.role.grants", lambda s, ctx: _role(service.set_grants(
        s, ctx, role_code=code, grants=pairs, scope=payload.scope, importance=payload.importance)), target=code)


@router.get("/departments", tags=["admin"])
def list_departments(call: Api) -> list[dict]:
    """The department tree (flattened, in tree order)."""
    def go(s, ctx):
        require_capability(ctx.principal, "manage_users")
        return [{"id": d.id, "name": d.name, "parent_id": d.parent_id, "depth": d.path.count("/") - 2}
                for d in repo.list_departments(s)]
    return call.run("admin.department.list", go)


@router.post("/departments", status_code=201, tags=["admin"])
def create_department(call: Api, payload: DepartmentCreate) -> dict:
    """Add a department."""
    def go(s, ctx):
        d = service.create_department(s, ctx, name=payload.name, parent_id=payload.parent_id)
        return {"id": d.id, "name": d.name, "parent_id": d.parent_id}
    return call.run("admin.department.create", go)
