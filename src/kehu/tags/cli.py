"""Commands of `kehu.tags`: `kehu tags evaluate` (full re-evaluation with a progress bar), `kehu tags quality`."""
from __future__ import annotations

from datetime import date
from typing import Optional

import typer

tags_app = typer.Typer(help="客户标签与分级 (tags, grades, RFM)", no_args_is_help=True)


@tags_app.command("evaluate")
def evaluate(as_of: Optional[str] = typer.Option(None, help="评估日期 YYYY-MM-DD（默认今天）")) -> None:
    """Re-evaluate every active tag rule, grades, stars and RFM for all customers (quarterly by default)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from kehu.runtime import Kehu
    from kehu.tags.schedule import evaluate_recorded, summary
    from kehu.tags.service import today

    day = date.fromisoformat(as_of) if as_of else today()
    kehu = Kehu()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn()) as bar:
        task = bar.add_task("标签评估", total=1)

        def tick(what: str, done: int, total: int) -> None:
            bar.update(task, description=f"标签评估 {what}", completed=done, total=total)
        with kehu.db.transaction() as session:
            stats = evaluate_recorded(kehu, session, as_of=day, trigger="full", actor="cli", progress=tick)
    got = summary(stats)
    Console().print(f"客户 {got['customers']} 个，规则 {got['rules']} 条：新增标签 {got['gained']}，移除 {got['lost']}；"
                    f"等级有变化 {got['grades_written']} 个")


@tags_app.command("quality")
def quality() -> None:
    """Count the tag quality figures now and store them for the dashboard (its 立即检查, e.g. nightly from cron)."""
    from rich.console import Console

    from kehu.runtime import Kehu
    from kehu.tags import quality_snapshot

    kehu = Kehu()
    with kehu.db.reader() as session:  # the long count off the store's write lock, then a short write
        figures = quality_snapshot.measure_now(session, kehu.catalog(session))
    with kehu.db.transaction() as session:
        quality_snapshot.store(session, figures, trigger="check", actor_id=None)
    Console().print(f"标签质量数据已更新：在档客户 {figures['customers']} 个，标签 {len(figures['tags'])} 个，"
                    f"耗时 {figures['duration_ms'] / 1000:.1f} 秒")


def register(app: typer.Typer) -> None:
    """Add `kehu tags …` to the main CLI."""
    app.add_typer(tags_app, name="tags")
