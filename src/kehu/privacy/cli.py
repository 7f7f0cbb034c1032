"""`kehu retention run [--dry-run]` and `kehu rights …`: thin commands over kehu.privacy (cron / systemd timer)."""
from __future__ import annotations

import json
from datetime import date

import typer
from rich.console import Console
from rich.table import Table

from kehu.errors import KehuError

console = Console()
retention_app = typer.Typer(help="保存期限与销毁", no_args_is_help=True)
rights_app = typer.Typer(help="个人信息权利请求", no_args_is_help=True)


def acting(kehu, session, username: str):
    """The service context of a named user (commands act as a person, who is audited)."""
    from sqlalchemy import select

    from kehu.access import service as access
    from kehu.access.models import User
    from kehu.runtime import Ctx

    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        console.print(f"[red]用户 {username} 不存在[/red]")
        raise typer.Exit(2)
    return Ctx(kehu=kehu, principal=access.build_principal(session, user), catalog=kehu.catalog(session), ip="cli")


@retention_app.command("run")
def run(as_user: str = typer.Option(..., "--as", help="the user acting (holds manage_retention)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="only list what is due, by category and count"),
        today: str = typer.Option(None, help="evaluate as of this day (ISO date; default today)")) -> None:
    """Destroy expired data: execute approved destructions, then ask approval for what is newly due."""
    from kehu.cli import runtime
    from kehu.privacy import retention

    kehu = runtime()
    day = date.fromisoformat(today) if today else date.today()
    try:
        if dry_run:
            with kehu.db.transaction() as s:
                result = retention.dry_run(s, acting(kehu, s, as_user), today=day)
            table = Table("保存期限", "对象", "记录数")
            for row in result["categories"]:
                table.add_row(row["class_label"], row["entity"], str(row["count"]))
            console.print(table)
            console.print(f"到期客户 {result['customers']} 个（已排除法律保全；生效中的保全 {result['held']} 项）")
            return
        with kehu.db.reader() as s:
            ready = retention.approved_pending(s, acting(kehu, s, as_user))
        for did in ready:
            with kehu.db.transaction() as s:
                d = retention.execute(s, acting(kehu, s, as_user), destruction_id=did, today=day)
                summary = json.loads(d.summary)
            console.print(f"已执行销毁 {did}：{sum(i['count'] for i in summary['items'])} 条记录，"
                          f"跳过（保全）{len(summary['skipped'])} 个客户")
        with kehu.db.transaction() as s:
            d = retention.request_retention(s, acting(kehu, s, as_user), today=day)
            new = (d.id, d.approval_id) if d else None
        if new:
            console.print(f"已提交销毁申请 {new[0]}，等待第二人审批（审批单 {new[1]}）；审批后再次运行本命令执行")
        else:
            console.print("没有新的到期数据")
    except KehuError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1)


@rights_app.command("calendar")
def calendar_day(day: str = typer.Argument(..., help="ISO date"),
                 kind: str = typer.Argument(..., help="holiday | workday | clear"),
                 as_user: str = typer.Option(..., "--as", help="the user acting (holds handle_rights_requests)"),
                 note: str = typer.Option(None, help="e.g. 春节")) -> None:
    """Mark a public holiday or an adjusted working day (调休) for request deadlines, or clear it."""
    from kehu.cli import runtime
    from kehu.privacy import requests

    kehu = runtime()
    try:
        with kehu.db.transaction() as s:
            requests.set_calendar_day(s, acting(kehu, s, as_user), day=date.fromisoformat(day),
                                      kind=None if kind == "clear" else kind, note=note)
    except KehuError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1)
    console.print(f"{day}：{kind}")


def register(app: typer.Typer) -> None:
    """Add `kehu retention …` and `kehu rights …`."""
    app.add_typer(retention_app, name="retention")
    app.add_typer(rights_app, name="rights")
