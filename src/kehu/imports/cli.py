"""`kehu import FILE …`: bulk import of a CSV / Excel file as a user, with a Rich progress bar.

Run again after an interruption (Ctrl-C, kill -9, power loss): the job is found by the file's content
hash and continues after its last committed chunk.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _count_lines(path: Path) -> int | None:
    """Rows of a CSV (for the progress bar; a quoted newline makes it an estimate)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return None
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            n += chunk.count(b"\n")
    return max(0, n - 1)


def _fail(exc) -> None:
    from kehu.errors import ValidationFailed

    console.print(f"[red]{exc.message}[/red]")
    if isinstance(exc, ValidationFailed):
        for e in exc.errors:
            console.print(f"  · {e.field}：{e.message}")
    raise typer.Exit(2)


def _plan(plan: dict) -> None:
    table = Table(title="试运行结果（未写入任何数据）")
    table.add_column("项目")
    table.add_column("行数", justify="right")
    for key, label in (("rows", "数据行"), ("empty", "空行（跳过）"), ("create", "将新建"), ("update", "将更新"),
                       ("unchanged", "已存在且无变化"), ("reject", "将拒绝"), ("likely", "疑似重复（提示）")):
        table.add_row(label, f"{plan.get(key, 0):,}")
    console.print(table)
    if plan.get("fields"):
        rules = Table(title="更新规则：将被修改的字段")
        rules.add_column("字段")
        rules.add_column("填充空值", justify="right")
        rules.add_column("覆盖原值", justify="right")
        for name, kinds in sorted(plan["fields"].items()):
            rules.add_row(name, str(kinds["filled"]), str(kinds["overwritten"]))
        console.print(rules)


def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or .xlsx file"),
    as_user: str = typer.Option(..., "--as", help="import as this user (their rights and data scope apply)"),
    mapping: str = typer.Option(None, "--mapping", help="use this saved column mapping"),
    save_mapping: str = typer.Option(None, "--save-mapping", help="save the mapping used under this name"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check every row, write nothing"),
    on_existing: str = typer.Option("reject", help="row matching an archive: reject | fill | overwrite"),
    purpose_code: list[str] = typer.Option(None, "--purpose-code", help="legal basis: a consent purpose code the "
                                           "people agreed to (repeatable; `GET /api/v1/consent/purposes` lists them)"),
    purpose: str = typer.Option(None, help="legal basis: the purpose in words (optional)"),
    scope: str = typer.Option(None, help="legal basis: scope of the data (处理范围)"),
    channel: str = typer.Option("import", help="legal basis: collection channel code"),
    notice_version: str = typer.Option(None, help="legal basis: privacy-notice version shown to the people"),
    sensitive_consent: bool = typer.Option(False, help="separate explicit consent obtained for level-1 columns"),
    guardian_consent: bool = typer.Option(False, help="guardian consent obtained for the minors (under 14) in the "
                                          "file; their rows name the guardian (监护人姓名, 与监护人关系 columns)"),
    again: bool = typer.Option(False, help="import a file that was already imported completely once more"),
    report: Path = typer.Option(None, help="write the row-level report (.xlsx) here"),
    rejects: Path = typer.Option(None, help="write the rows not imported (.xlsx or .csv) here"),
    chunk: int = typer.Option(2000, min=1, max=50000, help="rows per committed chunk"),
) -> None:
    """Import customers from a CSV or Excel file (dry run, commit, resume after a crash)."""
    from kehu.access import repository
    from kehu.cli import runtime
    from kehu.errors import Conflict, KehuError
    from kehu.imports import reading, reports, runner, service

    kehu = runtime()
    with kehu.db.reader() as s:
        user = repository.user_by_name(s, as_user)
        if user is None:
            raise typer.BadParameter("用户不存在", param_hint="--as")
        user_id = user.id
    open_bytes = lambda: open(file, "rb")  # noqa: E731
    with open(file, "rb") as fh:
        digest = reading.content_hash(fh)
    basis = service.Basis(purposes=tuple(purpose_code or ()), purpose=purpose or "", scope=scope or "",
                          channel=channel, notice_version=notice_version or "", sensitive_consent=sensitive_consent,
                          guardian_consent=guardian_consent)
    try:
        with kehu.db.transaction() as s:
            ctx = runner.context(kehu, s, user_id)
            service.purge(s, kehu)
            try:
                job, resumed = service.start(s, ctx, file_name=file.name, open_bytes=open_bytes, file_hash=digest,
                                             basis=basis, mapping_name=mapping, on_existing=on_existing, again=again)
            except Conflict as exc:
                if exc.code != "already_imported":
                    raise
                console.print(f"[yellow]{exc.message}[/yellow]（如需再次导入请加 --again）")
                job, resumed = service.get(s, ctx, job_id=exc.detail["job_id"]), True
            job_id, done = job.id, job.status == "done"
            header, columns = service.layout(job)
            targets = service.targets_for(ctx)
            if save_mapping and not resumed:
                service.save_mapping(s, ctx, name=save_mapping, columns={header[i]: t for i, t in columns.items()})
        if not done:
            console.print(("继续导入任务 " if resumed else "导入任务 ") + job_id)
            cols = Table(title="列映射")
            cols.add_column("文件列")
            cols.add_column("字段")
            for i, head in enumerate(header):
                cols.add_row(head or f"第{i + 1}列", targets.get(columns.get(i, ""), "[dim]（忽略）[/dim]"))
            console.print(cols)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        total = _count_lines(file)
        if dry_run and not done:
            with Progress(TextColumn("试运行"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as bar:
                task = bar.add_task("check", total=total)
                plan = runner.check(kehu, user_id=user_id, job_id=job_id, open_bytes=open_bytes,
                                    progress=lambda n: bar.advance(task, n))
            _plan(plan)
        elif not done:
            with Progress(TextColumn("导入"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as bar:
                task = bar.add_task("commit", total=total)
                from kehu.imports.parallel import workers_wanted

                workers = workers_wanted() if file.stat().st_size > 2 * 2**20 else 0
                result = runner.commit(kehu, user_id=user_id, job_id=job_id, open_bytes=open_bytes, chunk=chunk,
                                       progress=lambda done_, _c: bar.update(task, completed=done_), workers=workers)
            console.print(f"完成：新建 {result['created']:,}，更新 {result['updated']:,}，"
                          f"无变化 {result['unchanged']:,}，拒绝 {result['rejected']:,}")
        with kehu.db.transaction() as s:
            ctx = runner.context(kehu, s, user_id)
            if report:
                _name, data = reports.report(s, ctx, job_id=job_id, phase="check" if dry_run else "commit")
                report.write_bytes(data)
                console.print(f"报告已写入 {report}")
            if rejects:
                _name, data = reports.rejects(s, ctx, job_id=job_id, fmt="csv" if rejects.suffix == ".csv" else "xlsx")
                rejects.write_bytes(data)
                rejects.chmod(0o600)
                console.print(f"未导入的行已写入 {rejects}（可能含敏感信息，用后请删除）")
    except KehuError as exc:
        _fail(exc)


def register(app: typer.Typer) -> None:
    """Add `kehu import` to the main CLI."""
    app.command("import")(import_file)
