"""`kehu audit …` commands."""
from __future__ import annotations

import typer
from rich.console import Console

from kehu.audit.chain import verify as verify_chain

app = typer.Typer(help="操作日志", no_args_is_help=True)
console = Console()


@app.command("verify")
def verify() -> None:
    """Check the whole audit chain; exit 1 and name the first bad entry if it was tampered with."""
    from kehu.cli import runtime

    kehu = runtime()
    with kehu.db.reader() as s:
        result = verify_chain(s, kehu.audit)
    if result.ok:
        console.print(f"[green]审计链完整[/green]：共校验 {result.checked} 条记录")
        return
    console.print(f"[red]审计链被破坏[/red]：{result.problem}（第一条异常记录：#{result.first_bad_seq}）")
    raise typer.Exit(1)
