"""`kehu pool …` commands (the recycling job, meant for a daily cron / systemd timer)."""
from __future__ import annotations

from datetime import datetime, timezone

import typer
from rich.console import Console

app = typer.Typer(help="公海", no_args_is_help=True)
console = Console()


@app.command("recycle")
def recycle(now: str = typer.Option(None, help="simulated time, ISO 8601 UTC (default: now)")) -> None:
    """Move customers not followed up within N days (per class) to the public pool; idempotent."""
    from kehu.cli import runtime
    from kehu.pools import service

    when = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    kehu = runtime()
    with kehu.db.transaction() as s:
        moved = service.recycle(s, kehu, now=when)
    with kehu.db.reader() as s:
        warned = service.warnings(s, now=when)
    console.print(f"已回收 {len(moved)} 个客户至公海" + (f"：{'、'.join(moved)}" if moved else ""))
    console.print(f"即将回收（已提醒负责人）：{len(warned)} 个")
