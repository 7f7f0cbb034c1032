"""`kehu user …` and `kehu role …` commands (acting as the system, audited as 'cli')."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from kehu.access import repository as repo
from kehu.access import service

app = typer.Typer(help="用户管理", no_args_is_help=True)
role_app = typer.Typer(help="角色与授权", no_args_is_help=True)
console = Console()


def _kehu():
    from kehu.cli import runtime

    return runtime()


def _existing_user(session, username: str):
    """The user with this login name, or a usage error."""
    user = repo.user_by_name(session, username)
    if user is None:
        raise typer.BadParameter("用户不存在")
    return user


def _audit(kehu, session, action: str, **detail) -> None:
    kehu.audit.stage(session, action=action, actor_name="cli", detail=detail)


@app.command("create")
def create(username: str, role: str = typer.Option(..., help="role code, e.g. staff"),
           display_name: str = typer.Option(None, help="display name"),
           department: str = typer.Option(None, help="department id"),
           password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:
    """Create a user."""
    kehu = _kehu()
    with kehu.db.transaction() as s:
        user = service.create_user(s, None, username=username, display_name=display_name or username,
                                   password=password, role_code=role, department_id=department)
        _audit(kehu, s, "admin.user.create", username=username, role=role)
    console.print(f"已创建用户 {user.username}")


@app.command("list")
def list_users() -> None:
    """List users with role, department and status."""
    kehu = _kehu()
    table = Table("用户名", "姓名", "角色", "部门", "状态")
    with kehu.db.reader() as s:
        for u in repo.list_users(s):
            table.add_row(u.username, u.display_name, u.role.name, u.department.name if u.department else "",
                          "停用" if not u.active else ("锁定" if u.locked_until else "正常"))
    console.print(table)


@app.command("set-role")
def set_role(username: str, role: str) -> None:
    """Change a user's role (effective on their next request)."""
    kehu = _kehu()
    with kehu.db.transaction() as s:
        user = _existing_user(s, username)
        new = repo.role_by_code(s, role)
        if new is None:
            raise typer.BadParameter("角色不存在")
        user.role_id = new.id
        kehu.bump_epoch(s)
        _audit(kehu, s, "admin.user.update", username=username, role=role)
    console.print(f"{username} 的角色已改为 {role}")


@app.command("unlock")
def unlock(username: str) -> None:
    """Unlock an account locked after failed logins."""
    kehu = _kehu()
    with kehu.db.transaction() as s:
        user = _existing_user(s, username)
        user.locked_until, user.failed_logins = None, 0
        _audit(kehu, s, "admin.user.update", username=username, unlocked=True)
    console.print(f"{username} 已解锁")


@role_app.command("list")
def list_roles() -> None:
    """List roles with scope and grants."""
    kehu = _kehu()
    table = Table("代码", "名称", "数据范围", "权限", "授权（动作@级别）")
    with kehu.db.reader() as s:
        for r in repo.list_roles(s):
            table.add_row(r.code, r.name, r.scope, ",".join(sorted(r.capability_set)),
                          " ".join(sorted(f"{g.action}@{g.level}" for g in r.grants)))
    console.print(table)


def _change_grants(role: str, grant: list[str], add: bool) -> None:
    kehu = _kehu()
    with kehu.db.transaction() as s:
        r = repo.role_by_code(s, role)
        if r is None:
            raise typer.BadParameter("角色不存在")
        current = {(g.action, g.level) for g in r.grants}
        pairs = set()
        for g in grant:
            action, _, level = g.partition("@")
            if not level.isdigit() or int(level) not in (1, 2, 3):
                raise typer.BadParameter(f"授权格式应为 动作@级别：{g}")
            pairs.add((action, int(level)))
        new = current | pairs if add else current - pairs
        service.replace_grants(s, r, new)
        kehu.bump_epoch(s)
        _audit(kehu, s, "admin.role.grants", role=role, after=sorted(f"{a}@{lv}" for a, lv in new))
    console.print(f"角色 {role} 的授权已更新")


@role_app.command("grant")
def grant(role: str, grants: list[str] = typer.Argument(..., help="e.g. view@1 reveal@2")) -> None:
    """Add grants to a role."""
    _change_grants(role, grants, add=True)


@role_app.command("revoke")
def revoke(role: str, grants: list[str] = typer.Argument(..., help="e.g. reveal@1")) -> None:
    """Remove grants from a role (effective on the next request)."""
    _change_grants(role, grants, add=False)
