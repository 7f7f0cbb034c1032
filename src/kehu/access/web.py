"""HTML adapter of access administration (系统管理员): users, departments, roles and their grant matrix."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kehu.access import policy, service
from kehu.access import repository as repo
from kehu.access.models import CAPABILITIES, SCOPES, User
from kehu.access.policy import require_capability
from kehu.access.principal import Principal
from kehu.catalog.spec import ACTION_NAMES, ACTIONS, LEVEL_NAMES, LEVELS
from kehu.errors import Conflict, NotFound, ValidationFailed
from kehu.web import forms
from kehu.web.errors import HtmlRoute
from kehu.web.render import format_dt
from kehu.web.session import Web, WebCall

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
INDENT = "\u00a0\u00a0"


def _depth(dep) -> int:
    return dep.path.count("/") - 2


def assignable(session: Session, principal: Principal) -> dict[str, list[tuple[str, str]]]:
    """Owners and departments inside the principal's data scope (choices of the customer forms and filters)."""
    if principal.scope == "own" or not principal.sees_customers:
        return {"owner_id": [(principal.user_id, principal.display_name)], "department_id": []}
    users = [(u.id, u.display_name) for u in repo.list_users(session)
             if u.active and any(g.action == "view" for g in u.role.grants)
             and policy.in_scope(principal, owner_id=u.id, department_id=u.department_id)]
    departments = [(d.id, INDENT * _depth(d) + d.name) for d in repo.list_departments(session)
                   if policy.in_scope(principal, owner_id=None, department_id=d.id)]
    return {"owner_id": users, "department_id": departments}


def _user(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role.code,
            "role_name": u.role.name, "department_id": u.department_id,
            "department": u.department.name if u.department else None, "active": u.active,
            "locked": bool(u.locked_until), "last_login": format_dt(u.last_login_at)}


def _directory(session: Session, ctx) -> dict[str, Any]:
    """Users, roles and departments for the user administration pages."""
    require_capability(ctx.principal, "manage_users")
    return {"users": [_user(u) for u in repo.list_users(session)],
            "roles": [(r.code, r.name) for r in repo.list_roles(session)],
            "departments": [(d.id, INDENT * _depth(d) + d.name) for d in repo.list_departments(session)]}


USER_FIELDS = ["username", "display_name", "password", "role", "department_id"]


@router.get("/admin/users")
def users(call: Web) -> Response:
    """All accounts with role, department and status; the form for a new one."""
    return call.page("access/users.html", **call.run("admin.user.list", _directory), problems=forms.Problems(),
                     posted={})


@router.post("/admin/users")
def create_user(call: Web) -> Response:
    """Add an account."""
    posted = {k: call.value(k) for k in USER_FIELDS}
    try:
        call.run("admin.user.create", lambda s, ctx: service.create_user(
            s, ctx, username=posted["username"], display_name=posted["display_name"], password=posted["password"],
            role_code=posted["role"], department_id=posted["department_id"] or None))
    except (ValidationFailed, Conflict) as exc:
        problems = forms.problems(exc, USER_FIELDS)
        if isinstance(exc, Conflict):
            problems.fields.setdefault("username", exc.message)
        return call.page("access/users.html", **call.run("admin.user.list", _directory), problems=problems,
                         posted={**posted, "password": ""}, status=exc.status)
    return call.redirect("/admin/users?ok=created")


def _user_page(call: WebCall, user_id: str, *, problems: forms.Problems | None = None, status: int = 200):
    def go(s, ctx):
        found = _directory(s, ctx)
        user = next((u for u in found["users"] if u["id"] == user_id), None)
        if user is None:
            raise NotFound()
        if call.form is not None:  # a refused change comes back as it was entered
            user = {**user, "role": call.value("role") or user["role"], "department_id": call.value("department_id"),
                    "active": call.value("active") == "on"}
        return {**found, "user": user}
    return call.page("access/user_edit.html", **call.run("admin.user.list", go, target=user_id),
                     problems=problems or forms.Problems(), status=status)


@router.get("/admin/users/{user_id}")
def user_form(call: Web, user_id: str) -> Response:
    """Change one account: role, department, active, password, unlock."""
    return _user_page(call, user_id)


@router.post("/admin/users/{user_id}")
def update_user(call: Web, user_id: str) -> Response:
    """Save an account's changes; effective on the user's next request."""
    try:
        call.run("admin.user.update", lambda s, ctx: service.update_user(
            s, ctx, user_id=user_id, role_code=call.value("role") or None, department_id=call.value("department_id"),
            active=call.value("active") == "on", password=call.value("password") or None,
            unlock=call.value("unlock") == "on"), target=user_id)
    except ValidationFailed as exc:
        return _user_page(call, user_id, problems=forms.problems(exc, ["role", "department_id", "password"]),
                          status=exc.status)
    return call.redirect("/admin/users?ok=saved")


@router.post("/admin/users/{user_id}/unlock")
def unlock_user(call: Web, user_id: str) -> Response:
    """Unlock an account locked after failed logins."""
    call.run("admin.user.update", lambda s, ctx: service.update_user(s, ctx, user_id=user_id, unlock=True),
             target=user_id)
    return call.redirect("/admin/users?ok=unlocked")


# --- departments ------------------------------------------------------------------------------

def _departments(session: Session, ctx) -> dict[str, Any]:
    require_capability(ctx.principal, "manage_users")
    found = repo.list_departments(session)
    return {"departments": [{"id": d.id, "name": d.name, "depth": _depth(d)} for d in found],
            "options": [(d.id, INDENT * _depth(d) + d.name) for d in found]}


@router.get("/admin/departments")
def departments(call: Web) -> Response:
    """The department tree and the form for a new department."""
    return call.page("access/departments.html", **call.run("admin.department.list", _departments),
                     problems=forms.Problems(), posted={})


@router.post("/admin/departments")
def create_department(call: Web) -> Response:
    """Add a department under a parent (or as a root)."""
    posted = {"name": call.value("name"), "parent_id": call.value("parent_id")}
    try:
        call.run("admin.department.create", lambda s, ctx: service.create_department(
            s, ctx, name=posted["name"], parent_id=posted["parent_id"] or None))
    except ValidationFailed as exc:
        return call.page("access/departments.html", **call.run("admin.department.list", _departments),
                         problems=forms.problems(exc, ["name", "parent_id"]), posted=posted, status=exc.status)
    return call.redirect("/admin/departments?ok=created")


# --- roles and grants ---------------------------------------------------------------------------

def _roles(session: Session, ctx) -> dict[str, Any]:
    require_capability(ctx.principal, "manage_roles")
    roles = [{"code": r.code, "name": r.name, "scope": r.scope, "builtin": r.builtin,
              "capabilities": [CAPABILITIES[c] for c in sorted(r.capability_set) if c in CAPABILITIES],
              "importance": r.importance_set, "grants": {f"{g.action}@{g.level}" for g in r.grants}}
             for r in repo.list_roles(session)]
    roles.sort(key=lambda r: bool(r["capabilities"]))  # roles on customer data first, then system roles
    return {"roles": roles}


def _roles_page(call: WebCall, *, problems: forms.Problems | None = None, posted: dict | None = None,
                status: int = 200) -> Response:
    return call.page("access/roles.html", **call.run("admin.role.list", _roles), actions=ACTIONS,
                     action_names=ACTION_NAMES, levels=LEVELS, level_names=LEVEL_NAMES, scopes=SCOPES,
                     capabilities=CAPABILITIES, problems=problems or forms.Problems(), posted=posted or {},
                     status=status)


@router.get("/admin/roles")
def roles(call: Web) -> Response:
    """Every role with its data scope and its level × action grant matrix."""
    return _roles_page(call)


@router.post("/admin/roles/{code}/grants")
def set_grants(call: Web, code: str) -> Response:
    """Replace a role's grants (ticked boxes), scope and visible customer classes; effective on the next request."""
    pairs = []
    for grant in call.values("grant"):
        action, _, level = grant.partition("@")
        pairs.append((action, int(level) if level.isdigit() else 0))
    try:
        call.run("admin.role.grants", lambda s, ctx: service.set_grants(
            s, ctx, role_code=code, grants=pairs, scope=call.value("scope") or None,
            importance=call.values("importance")), target=code)
    except ValidationFailed as exc:
        return _roles_page(call, problems=forms.problems(exc, []), status=exc.status)
    return call.redirect(f"/admin/roles?ok=saved#role-{code}")


@router.post("/admin/roles")
def create_role(call: Web) -> Response:
    """Add a role (no grants until given: default deny)."""
    posted = {"code": call.value("code"), "name": call.value("name"), "scope": call.value("scope"),
              "capabilities": call.values("capabilities")}
    try:
        call.run("admin.role.create", lambda s, ctx: service.create_role(
            s, ctx, code=posted["code"], name=posted["name"], scope=posted["scope"],
            capabilities=posted["capabilities"]))
    except (ValidationFailed, Conflict) as exc:
        problems = forms.problems(exc, ["code", "name", "scope", "capabilities"])
        if isinstance(exc, Conflict):
            problems.fields.setdefault("code", exc.message)
        return _roles_page(call, problems=problems, posted=posted, status=exc.status)
    return call.redirect(f"/admin/roles?ok=created#role-{posted['code']}")
