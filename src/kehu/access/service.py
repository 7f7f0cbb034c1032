"""Authentication, principal resolution and administration of users, departments and roles."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kehu.access import repository as repo
from kehu.access.defaults import CAPABILITY_HOLDERS, DEFAULT_ROLES
from kehu.access.models import (ALL_IMPORTANCE, CAPABILITIES, SCOPES, Department, Grant, KnownCapability, Role, Token,
                                User)
from kehu.access.policy import require_capability
from kehu.access.principal import Principal
from kehu.catalog.spec import ACTIONS, LEVELS
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from kehu.kit.ids import new_id
from kehu.runtime import Ctx, Kehu
from kehu.security.passwords import check_strength, hash_password, verify_password


def digest(token: str) -> str:
    """SHA-256 of a bearer token (only this is stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginResult:
    """Outcome of a login attempt; failures are committed (counter, audit) before raising."""

    token: str | None = None
    csrf: str | None = None
    user: User | None = None
    error: Unauthenticated | None = None


def login(session: Session, *, kehu: Kehu, username: str, password: str, ip: str | None,
          kind: str = "api") -> LoginResult:
    """Check a password, apply lock-out, issue a token; every attempt is audited."""
    now, cfg = utcnow(), kehu.settings
    user = repo.user_by_name(session, username)
    ok = verify_password(user.password_hash if user else None, password)
    if user and user.locked_until and user.locked_until > now:
        kehu.audit.stage(session, action="auth.login", outcome="denied", actor_id=user.id, actor_name=username,
                         ip=ip, detail={"reason": "locked"})
        return LoginResult(error=Unauthenticated("账户已被锁定，请稍后再试或联系管理员", code="account_locked"))
    if not ok or not user or not user.active:
        detail = {"reason": "bad_credentials" if user is None or not ok else "inactive"}
        if user is not None and not ok:
            user.failed_logins += 1
            if user.failed_logins >= cfg.lockout_threshold:
                user.locked_until = now + timedelta(minutes=cfg.lockout_minutes)
                user.failed_logins = 0
                detail["locked"] = True
        kehu.audit.stage(session, action="auth.login", outcome="failed", actor_id=user.id if user else None,
                         actor_name=username[:60], ip=ip, detail=detail)
        return LoginResult(error=Unauthenticated("用户名或密码错误", code="bad_credentials"))
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(Token(digest=digest(token), user_id=user.id, kind=kind, created_at=now, csrf=csrf,
                      expires_at=now + timedelta(minutes=cfg.session_minutes)))
    kehu.audit.stage(session, action="auth.login", actor_id=user.id, actor_name=user.username, ip=ip,
                     detail={"kind": kind})
    return LoginResult(token=token, csrf=csrf, user=user)


def logout(session: Session, *, kehu: Kehu, token: str, ip: str | None) -> None:
    """Revoke a token."""
    tok = session.get(Token, digest(token))
    if tok:
        kehu.audit.stage(session, action="auth.logout", actor_id=tok.user_id, ip=ip)
        session.delete(tok)
        Kehu.bump_epoch(session)  # cached token entries everywhere are dropped


@dataclass(frozen=True)
class TokenInfo:
    """What a request needs to know about its token (cached per security epoch)."""

    user_id: str
    kind: str
    expires_at: datetime
    csrf: str | None


def resolve(session: Session, *, kehu: Kehu, token: str, epoch: int | None = None) -> tuple[Principal, TokenInfo]:
    """The principal behind a bearer token.

    Token and principal are cached per security epoch; logout, deactivation and every change
    of roles, grants or users bump the epoch, so a revoked token or right fails on the next request.
    """
    key, now = digest(token), utcnow()
    epoch = kehu.epoch(session) if epoch is None else epoch
    info = kehu.cached_token(key, epoch)
    if info is None:
        found = repo.token_owner(session, key, now)
        if not found:
            raise Unauthenticated()
        user_id, tok = found
        info = TokenInfo(user_id=user_id, kind=tok.kind, expires_at=tok.expires_at, csrf=tok.csrf)
        kehu.remember_token(key, epoch, info)
    if info.expires_at <= now:
        raise Unauthenticated("登录已过期，请重新登录", code="session_expired")
    principal = kehu.cached_principal(info.user_id, epoch)
    if principal is None:
        principal = build_principal(session, session.get(User, info.user_id))
        kehu.remember_principal(principal, epoch)
    return principal, info


def current_epoch(session: Session, kehu: Kehu) -> int:
    """The security epoch (exposed for adapters that build a Ctx)."""
    return kehu.epoch(session)


def build_principal(session: Session, user: User) -> Principal:
    """Resolve a user's role, grants and department subtree."""
    role = user.role
    return Principal(
        user_id=user.id, username=user.username, display_name=user.display_name, role_code=role.code,
        role_name=role.name, scope=role.scope, department_id=user.department_id,
        department_ids=repo.subtree_ids(session, user.department),
        capabilities=role.capability_set, grants=frozenset((g.action, g.level) for g in role.grants),
        importance=role.importance_set)


# --- administration -----------------------------------------------------------------

def ensure_default_roles(session: Session) -> dict[str, Role]:
    """Create the built-in roles when missing (idempotent)."""
    out = {}
    for code, spec in DEFAULT_ROLES.items():
        role = repo.role_by_code(session, code)
        if role is None:
            role = Role(id=new_id(), code=code, name=spec["name"], scope=spec["scope"], builtin=True,
                        capabilities=",".join(spec["capabilities"]))
            role.grants = [Grant(action=a, level=lv) for a, lvs in spec["grants"].items() for lv in lvs]
            session.add(role)
        out[code] = role
    session.flush()
    return out


def sync_builtin_capabilities(session: Session) -> dict[str, list[str]]:
    """Give the built-in roles the default capabilities this store has not met yet; {role code: added}.

    Each capability is handed to its default holders (`CAPABILITY_HOLDERS`) once, when the store first meets
    it, and recorded in `known_capabilities`: one an administrator later takes from a built-in role stays
    away. A store with no record yet (made before it existed) has met a capability when one of its default
    holders holds it. Custom roles are never touched.
    """
    recorded = repo.known_capabilities(session)
    builtin = {r.code: r for r in repo.list_roles(session) if r.builtin}
    met = recorded or {c for c, holders in CAPABILITY_HOLDERS.items()
                       if any(c in builtin[h].capability_set for h in holders if h in builtin)}
    added: dict[str, list[str]] = {}
    for code, role in builtin.items():
        gain = [c for c in CAPABILITIES if c not in met and code in CAPABILITY_HOLDERS.get(c, ())
                and c not in role.capability_set]
        if gain:
            role.capabilities = ",".join([c for c in role.capabilities.split(",") if c] + gain)
            added[code] = gain
    session.add_all(KnownCapability(code=c) for c in CAPABILITIES if c not in recorded)
    if added:
        Kehu.bump_epoch(session)
    session.flush()
    return added


def create_department(session: Session, ctx: Ctx | None, *, name: str, parent_id: str | None = None) -> Department:
    """Add a department under a parent (or as a root)."""
    if ctx:
        require_capability(ctx.principal, "manage_users")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed([FieldError("name", "required", "请填写部门名称")])
    parent = session.get(Department, parent_id) if parent_id else None
    if parent_id and parent is None:
        raise ValidationFailed([FieldError("parent_id", "not_found", "上级部门不存在")])
    dep_id = new_id()
    dep = Department(id=dep_id, name=name, parent_id=parent_id, path=(parent.path if parent else "/") + dep_id + "/")
    session.add(dep)
    Kehu.bump_epoch(session)
    if ctx:
        ctx.audit(session, action="admin.department.create", target_type="department", target_id=dep_id,
                  detail={"name": name})
    return dep


def create_user(session: Session, ctx: Ctx | None, *, username: str, display_name: str, password: str,
                role_code: str, department_id: str | None = None) -> User:
    """Add an employee account with a role and department."""
    if ctx:
        require_capability(ctx.principal, "manage_users")
    errors = []
    username = (username or "").strip()
    if not username or not username.replace("_", "").replace(".", "").isalnum() or len(username) > 40:
        errors.append(FieldError("username", "invalid_username", "用户名须为1-40位字母、数字、点或下划线"))
    if not (display_name or "").strip():
        errors.append(FieldError("display_name", "required", "请填写姓名"))
    if msg := check_strength(password or ""):
        errors.append(FieldError("password", "weak_password", msg))
    role = repo.role_by_code(session, role_code)
    if role is None:
        errors.append(FieldError("role", "not_found", "角色不存在"))
    if department_id and session.get(Department, department_id) is None:
        errors.append(FieldError("department_id", "not_found", "部门不存在"))
    if errors:
        raise ValidationFailed(errors)
    if repo.user_by_name(session, username):
        raise Conflict("用户名已存在", code="username_taken")
    user = User(id=new_id(), username=username, display_name=display_name.strip(), role_id=role.id,
                password_hash=hash_password(password), department_id=department_id)
    session.add(user)
    Kehu.bump_epoch(session)
    if ctx:
        ctx.audit(session, action="admin.user.create", target_type="user", target_id=user.id,
                  detail={"username": username, "role": role_code})
    return user


def update_user(session: Session, ctx: Ctx, *, user_id: str, role_code: str | None = None,
                department_id: str | None = None, active: bool | None = None, password: str | None = None,
                unlock: bool = False) -> User:
    """Change an account's role, department, status or password; effective on the next request."""
    require_capability(ctx.principal, "manage_users")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.id == ctx.principal.user_id and (active is False or role_code not in (None, user.role.code)):
        raise ValidationFailed([FieldError("active" if active is False else "role", "self_lockout",
                                           "不能停用自己的账户或更改自己的角色，请由另一位管理员操作")])
    changes: dict = {}
    if role_code is not None:
        role = repo.role_by_code(session, role_code)
        if role is None:
            raise ValidationFailed([FieldError("role", "not_found", "角色不存在")])
        user.role_id, user.role, changes["role"] = role.id, role, role_code
    if department_id is not None:
        if department_id and session.get(Department, department_id) is None:
            raise ValidationFailed([FieldError("department_id", "not_found", "部门不存在")])
        user.department_id, changes["department_id"] = department_id or None, department_id
    if active is not None:
        user.active, changes["active"] = active, active
        if not active:
            session.query(Token).filter(Token.user_id == user.id).delete()
    if password is not None:
        if msg := check_strength(password):
            raise ValidationFailed([FieldError("password", "weak_password", msg)])
        user.password_hash, changes["password"] = hash_password(password), "changed"
    if unlock:
        user.locked_until, user.failed_logins, changes["unlocked"] = None, 0, True
    Kehu.bump_epoch(session)
    ctx.audit(session, action="admin.user.update", target_type="user", target_id=user.id, detail=changes)
    return user


def replace_grants(session: Session, role: Role, wanted: set[tuple[str, int]]) -> None:
    """Make a role's grants exactly `wanted` (keeps unchanged rows; deletes are flushed first)."""
    for g in [g for g in role.grants if (g.action, g.level) not in wanted]:
        role.grants.remove(g)
    session.flush()
    have = {(g.action, g.level) for g in role.grants}
    role.grants.extend(Grant(action=a, level=lv) for a, lv in sorted(wanted - have))


def create_role(session: Session, ctx: Ctx, *, code: str, name: str, scope: str,
                capabilities: list[str] | None = None) -> Role:
    """Add a custom role (no grants until given: default deny)."""
    require_capability(ctx.principal, "manage_roles")
    errors = []
    if not code or not code.replace("_", "").isalnum():
        errors.append(FieldError("code", "invalid_code", "角色代码须为字母、数字或下划线"))
    if not (name or "").strip():
        errors.append(FieldError("name", "required", "请填写角色名称"))
    if scope not in dict(SCOPES):
        errors.append(FieldError("scope", "invalid_choice", "数据范围无效"))
    bad = [c for c in capabilities or [] if c not in CAPABILITIES]
    if bad:
        errors.append(FieldError("capabilities", "invalid_choice", "未知权限：" + "、".join(bad)))
    if errors:
        raise ValidationFailed(errors)
    if repo.role_by_code(session, code):
        raise Conflict("角色代码已存在", code="role_exists")
    role = Role(id=new_id(), code=code, name=name.strip(), scope=scope, capabilities=",".join(capabilities or []))
    session.add(role)
    Kehu.bump_epoch(session)
    ctx.audit(session, action="admin.role.create", target_type="role", target_id=code,
              detail={"scope": scope, "capabilities": capabilities or []})
    return role


def set_grants(session: Session, ctx: Ctx, *, role_code: str, grants: list[tuple[str, int]],
               scope: str | None = None, importance: list[str] | None = None) -> Role:
    """Replace a role's level × action grants (optionally its scope and the customer classes it may see)."""
    require_capability(ctx.principal, "manage_roles")
    role = repo.role_by_code(session, role_code)
    if role is None:
        raise NotFound()
    bad = [f"{a}@{lv}" for a, lv in grants if a not in ACTIONS or lv not in LEVELS]
    if bad or (scope is not None and scope not in dict(SCOPES)):
        raise ValidationFailed([FieldError("grants", "invalid_grant", "无效授权：" + "、".join(bad or [str(scope)]))])
    if importance is not None and (not importance or set(importance) - set(ALL_IMPORTANCE.split(","))):
        raise ValidationFailed([FieldError("importance", "invalid_choice", "客户重要性只能是 普通客户、核心客户、重要客户")])
    before = sorted(f"{g.action}@{g.level}" for g in role.grants)
    replace_grants(session, role, set(grants))
    if scope is not None:
        role.scope = scope
    if importance is not None:
        role.importance = ",".join(c for c in ALL_IMPORTANCE.split(",") if c in importance)
    Kehu.bump_epoch(session)
    ctx.audit(session, action="admin.role.grants", target_type="role", target_id=role_code,
              detail={"before": before, "after": sorted(f"{a}@{lv}" for a, lv in set(grants)), "scope": role.scope,
                      "importance": role.importance})
    return role


def lock_user(session: Session, *, kehu: Kehu, user_id: str, reason: str, until: datetime | None = None,
              detail: dict | None = None) -> bool:
    """Lock an account (until an administrator unlocks it, or `until`): its sessions end on the next request.

    Used by the alarms (`kehu.supervision`); False when the user does not exist or is already locked.
    """
    user = session.get(User, user_id)
    now = utcnow()
    if user is None or (user.locked_until and user.locked_until > now):
        return False
    user.locked_until = until or datetime(9999, 12, 31, tzinfo=now.tzinfo)
    session.query(Token).filter(Token.user_id == user.id).delete()
    Kehu.bump_epoch(session)
    kehu.audit.stage(session, action="admin.user.lock", actor_name="system", target_type="user", target_id=user.id,
                     reason=reason, detail=detail or None)
    return True
