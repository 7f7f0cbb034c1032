"""`kehu alarms …` commands: scan the audit stream now, write the security check report."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="异常访问报警与安全检查", no_args_is_help=True)
console = Console()


def register(main: typer.Typer) -> None:
    """Add `kehu alarms` to the main CLI."""
    main.add_typer(app, name="alarms")


@app.command("scan")
def scan(start: int = typer.Option(None, "--from", help="re-scan the entries after this seq (default: checkpoint)"),
         lock: bool = typer.Option(True, help="lock accounts where a rule says so (--no-lock when re-scanning)"),
         ) -> None:
    """Evaluate the alarm rules over the audit entries not yet scanned (idempotent)."""
    from kehu.cli import runtime
    from kehu.supervision.scan import scan as run

    result = run(runtime(), start=start, lock=lock)
    console.print(f"已检查 {result.scanned} 条日志（至第 {result.last_seq} 条）：新报警 {result.raised} 条，"
                  f"更新 {result.updated} 条，锁定账户 {result.locked} 个")


@app.command("report")
def report(user: str = typer.Option(..., "--user", help="the 审计员 account the report is produced as"),
           since: str = typer.Option(..., help="first day, YYYY-MM-DD (Beijing time)"),
           until: str = typer.Option(..., help="last day, YYYY-MM-DD (inclusive)"),
           out: Path = typer.Option(..., help="Excel file to write")) -> None:
    """Write the security check report (定期安全检查) of a period as an Excel workbook (audited)."""
    from kehu.access import repository, service as access
    from kehu.cli import runtime
    from kehu.errors import KehuError
    from kehu.runtime import Ctx
    from kehu.supervision.report import build, to_xlsx
    from kehu.web.i18n import local_tz

    first, last = date.fromisoformat(since), date.fromisoformat(until)
    start = datetime.combine(first, time(), tzinfo=local_tz())
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=local_tz())
    kehu = runtime()
    with kehu.db.transaction() as s:
        account = repository.user_by_name(s, user)
        if account is None:
            raise typer.BadParameter("用户不存在")
        ctx = Ctx(kehu=kehu, principal=access.build_principal(s, account), catalog=kehu.catalog(s), ip="cli")
        try:
            data = build(s, ctx, since=start, until=end)
        except KehuError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from None
    out.write_bytes(to_xlsx(data))
    chain = "完整" if data["chain"]["ok"] else "异常"
    console.print(f"已写入 {out}：审计链{chain}，未关闭报警 {len(data['alerts']['open'])} 条，"
                  f"长期未用账户 {len(data['dormant'])} 个")
