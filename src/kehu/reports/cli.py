"""`kehu reports …`: check the pre-aggregated report cells against the base tables, or rebuild them."""
from __future__ import annotations

import typer
from rich.console import Console

console = Console()
app = typer.Typer(help="统计报表", no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Compare the report cells with a recomputation from the base tables; exit 1 on any difference."""
    from kehu.cli import runtime
    from kehu.reports import cubes

    kehu = runtime()
    with kehu.db.engine.connect() as conn:
        diff = cubes.check(conn)
        conn.rollback()
    if not diff:
        console.print("报表汇总数据与明细一致")
        return
    for table, (stale, fresh) in diff.items():
        console.print(f"{table}: {len(stale)} 个过期汇总格, {len(fresh)} 个缺失汇总格")
    raise typer.Exit(1)


@app.command("rebuild")
def rebuild() -> None:
    """Recompute every report cell from the base tables (after a restore or a load with triggers off)."""
    from kehu.cli import runtime
    from kehu.reports import cubes

    kehu = runtime()
    with kehu.db.engine.begin() as conn:
        cells = cubes.rebuild(conn)
    console.print("已重建：" + "，".join(f"{k} {v}" for k, v in cells.items()))


def register(root: typer.Typer) -> None:
    """Add `kehu reports check|rebuild`."""
    root.add_typer(app, name="reports")
